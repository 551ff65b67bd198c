import { failureLogFields } from '../errors.ts';
import type { Logger } from '../log.ts';
import { maskNumber } from '../sms/numbers.ts';
import type { ReplyStore } from '../store/types.ts';
import { GATEWAY_OPT_OUT } from '../vocabulary.ts';

/**
 * A gateway says a number opted out of the account's messages, in its answer to a send (an outcome rule's
 * `optsOut`: Twilio's 21610) or in a delivery report (`StatusReport.optedOut`: the same code in a Twilio
 * callback, Vonage's err-code 9): kept as a STOP is, under the gateway's code (`code`, as RCPT names it), so
 * that RCPT refuses the next mail to the number rather than the provider bouncing it after a 250, unless it is
 * dated (`at`: the report's own time, else when the SMS was sent) before the number's last START. A store
 * that fails loses nothing the provider does not say again at the next send to the number. `where`: the
 * flow that heard it, which starts the log line.
 */
export async function recordGatewayOptOut(
  store: Pick<ReplyStore, 'recordOptOut'>,
  opted: { readonly number: string; readonly code: string; readonly at: number },
  log: Logger,
  where: 'dispatch' | 'inbound',
  fields: object,
): Promise<void> {
  const line = { ...fields, to: maskNumber(opted.number), code: opted.code };
  try {
    if (await store.recordOptOut(opted.number, opted.at, `${GATEWAY_OPT_OUT}${opted.code}`)) {
      log.info(line, `${where}: the gateway refused the number as opted out: recorded as a STOP, RCPT refuses it from now on`);
    } else {
      log.info(line, `${where}: the gateway refused the number as opted out before it texted START: the START stands, nothing recorded`);
    }
  } catch (error) {
    log.warn({ ...line, ...failureLogFields(error) }, `${where}: the gateway refused the number as opted out, and the store could not record it`);
  }
}
