/**
 * Raw wire fixtures shared by a gateway adapter's test and its simulator's test: both are held to
 * the same request and response bytes, so neither can hide the other's mistake. A fixture with
 * `"simulator": false` is adapter-only (a reply the simulator never gives); one with
 * `"adapter": false` is simulator-only (a request the adapter never sends).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { SmsSubmission, SubmissionResult } from '../../src/gateways/types.ts';

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

const fixtureSchema = z
  .object({
    description: z.string().min(1),
    submission: submissionSchema.optional(),
    request: z
      .object({
        method: z.enum(['GET', 'POST']),
        path: z.string().startsWith('/'),
        contentType: z.string().optional(),
        body: z.string().optional(),
      })
      .strict(),
    response: z.object({ status: z.number().int(), body: z.string() }).strict(),
    result: submissionResultSchema.optional(),
    adapter: z.literal(false).optional(),
    simulator: z
      .union([
        z.literal(false),
        z.object({ invalidNumbers: z.array(z.string()).optional(), behaviour: z.unknown().optional() }).strict(),
      ])
      .optional(),
  })
  .strict()
  .refine((fixture) => fixture.adapter === false || (fixture.submission && fixture.result), {
    message: 'a fixture the adapter runs needs "submission" and "result"',
  })
  .refine((fixture) => !(fixture.adapter === false && fixture.simulator === false), {
    message: 'a fixture must be run by the adapter or the simulator',
  });

export type WireFixture = z.infer<typeof fixtureSchema> & { readonly name: string };

export type AdapterFixture = WireFixture & { readonly submission: SmsSubmission; readonly result: SubmissionResult };

/** Every `*.json` under `dir`, sorted by name, validated so a typo fails loudly rather than testing nothing. */
export function loadWireFixtures(dir: string): WireFixture[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => {
      const parsed = fixtureSchema.safeParse(JSON.parse(readFileSync(join(dir, file), 'utf8')));
      if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
      return { ...parsed.data, name: file.replace(/\.json$/, '') };
    });
}

export function adapterFixtures(fixtures: readonly WireFixture[]): AdapterFixture[] {
  return fixtures.filter((fixture): fixture is AdapterFixture => fixture.adapter !== false);
}

export function simulatorFixtures(fixtures: readonly WireFixture[]): WireFixture[] {
  return fixtures.filter((fixture) => fixture.simulator !== false);
}

/** The fields of a urlencoded body or query as sorted `["name","value"]` strings: equal multisets, any order. */
export function formFieldMultiset(encoded: string): string[] {
  return [...new URLSearchParams(encoded)].map((pair) => JSON.stringify(pair)).sort();
}
