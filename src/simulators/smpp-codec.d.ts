/** What the simulated SMSC uses of the `smpp` package (0.5.1), which ships no types: its PDU codec. */
declare module 'smpp' {
  export class PDU {
    constructor(command: string | Buffer, options?: Readonly<Record<string, unknown>>);
    readonly command: string;
    readonly command_length: number;
    readonly command_id: number;
    readonly command_status: number;
    readonly sequence_number: number;
    readonly [field: string]: unknown;
    isResponse(): boolean;
    response(options?: Readonly<Record<string, unknown>>): PDU;
    toBuffer(): Buffer;
  }
  const smpp: { readonly PDU: typeof PDU };
  export default smpp;
}
