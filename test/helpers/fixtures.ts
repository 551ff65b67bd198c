/**
 * Raw wire fixtures shared by a gateway adapter's test and its simulator's test: both are held to
 * the same request and response bytes, so neither can hide the other's mistake. A fixture with
 * `"simulator": false` is adapter-only (a reply the simulator never gives); one with
 * `"adapter": false` is simulator-only (a request the adapter never sends).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { SmsSubmission, SubmissionResult } from '../../src/providers/contract.ts';

/** Every `*.json` in `dir`, sorted by name, validated so that a typo fails loudly rather than testing nothing. */
export function loadJsonFixtures<Fixture>(dir: string, schema: z.ZodType<Fixture>): Array<Fixture & { readonly name: string }> {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => {
      const parsed = schema.safeParse(JSON.parse(readFileSync(join(dir, file), 'utf8')));
      if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
      return { ...parsed.data, name: file.replace(/\.json$/, '') };
    });
}

const recipientResultSchema = z
  .object({
    number: z.string(),
    code: z.string(),
    providerId: z.string().optional(),
    trackingId: z.string().optional(),
    detail: z.string().optional(),
  })
  .strict();

const submissionResultSchema = z.union([
  z.object({ kind: z.literal('answered'), results: z.array(recipientResultSchema) }).strict(),
  z.object({ kind: z.literal('refused'), code: z.string(), detail: z.string().optional() }).strict(),
  z
    .object({
      kind: z.literal('transport'),
      phase: z.enum(['connect', 'response']),
      code: z.string(),
      detail: z.string(),
    })
    .strict(),
]);

const submissionSchema = z
  .object({
    messageId: z.string(),
    recipients: z.array(z.string().regex(/^\+\d+$/)).min(1),
    text: z.string(),
    encoding: z.enum(['gsm7', 'ucs2']),
    maxParts: z.number().int().positive(),
    senderId: z.string().optional(),
    userContext: z.string().optional(),
    deliveryReport: z.boolean().optional(),
  })
  .strict();

const requestSchema = z
  .object({
    method: z.enum(['GET', 'POST']),
    path: z.string().startsWith('/'),
    contentType: z.string().optional(),
    body: z.string().optional(),
  })
  .strict();

const responseSchema = z.object({ status: z.number().int(), body: z.string() }).strict();

/** How the simulator is set up before the fixture's request is sent. */
const simulatorSetupSchema = z.object({ invalidNumbers: z.array(z.string()).optional(), behaviour: z.unknown().optional() }).strict();

/** A wire fixture whose parts a provider may extend with what its protocol needs. */
function wireFixtureSchema<Submission extends z.ZodType, Request extends z.ZodType, Response extends z.ZodType, SimulatorSetup extends z.ZodType>(parts: {
  submission: Submission;
  request: Request;
  response: Response;
  simulatorSetup: SimulatorSetup;
}) {
  return z
    .object({
      description: z.string().min(1),
      submission: parts.submission.optional(),
      request: parts.request,
      response: parts.response,
      result: submissionResultSchema.optional(),
      adapter: z.literal(false).optional(),
      simulator: z.union([z.literal(false), parts.simulatorSetup]).optional(),
    })
    .strict()
    .refine((fixture) => fixture.adapter === false || (fixture.submission && fixture.result), {
      message: 'a fixture the adapter runs needs "submission" and "result"',
    })
    .refine((fixture) => !(fixture.adapter === false && fixture.simulator === false), {
      message: 'a fixture must be run by the adapter or the simulator',
    });
}

const fixtureSchema = wireFixtureSchema({
  submission: submissionSchema,
  request: requestSchema,
  response: responseSchema,
  simulatorSetup: simulatorSetupSchema,
});

export type WireFixture = z.infer<typeof fixtureSchema> & { readonly name: string };

export type AdapterFixture = WireFixture & { readonly submission: SmsSubmission; readonly result: SubmissionResult };

export function loadWireFixtures(dir: string): WireFixture[] {
  return loadJsonFixtures(dir, fixtureSchema);
}

export function adapterFixtures(fixtures: readonly WireFixture[]): AdapterFixture[] {
  return fixtures.filter((fixture): fixture is AdapterFixture => fixture.adapter !== false);
}

export function simulatorFixtures<Fixture extends { readonly simulator?: unknown }>(fixtures: readonly Fixture[]): Fixture[] {
  return fixtures.filter((fixture) => fixture.simulator !== false);
}

/** The fields of a urlencoded body or query as sorted `["name","value"]` strings: equal multisets, any order. */
export function formFieldMultiset(encoded: string): string[] {
  return [...new URLSearchParams(encoded)].map((pair) => JSON.stringify(pair)).sort();
}

// ---------------------------------------------------------------------------------------------------
// Puzzel

const isoTime = z.iso.datetime().transform((value) => Date.parse(value));

/**
 * Puzzel's wire fixtures add the `accept` header, the response's content type, submission times
 * (`sendAt`/`expiresAt` as ISO strings, `expiresInMs` relative to the send) and `newSession`; the
 * simulator setup takes `authFailure` and `priorRequests`.
 */
const puzzelFixtureSchema = wireFixtureSchema({
  submission: submissionSchema.extend({
    newSession: z.boolean().optional(),
    sendAt: isoTime.optional(),
    expiresAt: isoTime.optional(),
    expiresInMs: z.number().int().positive().optional(),
  }),
  request: requestSchema.extend({ accept: z.string().optional() }),
  response: responseSchema.extend({ contentType: z.string().optional() }),
  simulatorSetup: simulatorSetupSchema.extend({
    authFailure: z.enum(['status-code', 'http-401']).optional(),
    priorRequests: z.number().int().positive().optional(),
  }),
});

export type PuzzelWireFixture = z.infer<typeof puzzelFixtureSchema> & { readonly name: string };

export function loadPuzzelWireFixtures(dir: string): PuzzelWireFixture[] {
  return loadJsonFixtures(dir, puzzelFixtureSchema);
}

// ---------------------------------------------------------------------------------------------------
// InteractSMS webhook posts

const interactSmsInboundFixtureSchema = z
  .object({
    description: z.string().min(1),
    kind: z.enum(['mo', 'dr']),
    contentType: z.string(),
    body: z.string(),
    /** The secret the body's SMS-Verify is checked with; required with `verify`. */
    secret: z.string().optional(),
    /** What `verify` must answer with each formula. */
    verify: z.object({ portal: z.boolean(), kb: z.boolean() }).strict().optional(),
    /** `reason` of a refusal is a pattern the reason must match. */
    parsed: z.union([
      z.object({ ok: z.literal(true), items: z.array(z.record(z.string(), z.unknown())).min(1), unreadable: z.array(z.string()).min(1).optional() }).strict(),
      z.object({ ok: z.literal(false), reason: z.string() }).strict(),
    ]),
    /** How the simulator produces exactly this body (run by the simulator's test). */
    simulator: z
      .object({
        /** The simulator's fixed clock, ISO. */
        clock: z.string(),
        /** The send request whose receipt this is. */
        send: z.string().optional(),
        undeliverableNumbers: z.array(z.string()).optional(),
        /** The MO to `reply()` with. */
        from: z.string().optional(),
        text: z.string().optional(),
        notifyId: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((fixture) => (fixture.verify === undefined) === (fixture.secret === undefined), {
    message: '"verify" and "secret" go together',
  });

export type InteractSmsInboundFixture = z.infer<typeof interactSmsInboundFixtureSchema> & { readonly name: string };

export function loadInteractSmsInboundFixtures(dir: string): InteractSmsInboundFixture[] {
  return loadJsonFixtures(dir, interactSmsInboundFixtureSchema);
}
