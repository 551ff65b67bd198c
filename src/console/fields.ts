/**
 * The query and form fields each console page and action takes, one schema a route. A field is one
 * value: the same name given twice arrives as a list (`?sender=a&sender=b`), a JSON body may hold any
 * type, and neither is text any handler can read, so each is refused naming the field. Fields a
 * schema does not name are dropped.
 */
import { z } from 'zod';

/** Search terms and positions longer than this are no number, address, id or page: refused before any query. */
export const MAX_TERM_LENGTH = 320;

/**
 * One value of a field, as text: `label` names it in the refusal, as the page names it; a field the
 * page shows under no label of its own (a page position in a link) adds its name in the URL.
 */
function text(label: string, maxLength?: number) {
  const single = z.string({ error: `${label}: give one value, as text` });
  return (maxLength === undefined ? single : single.max(maxLength, `${label}: too long (at most ${maxLength} characters)`)).optional();
}

const term = (label: string) => text(label, MAX_TERM_LENGTH);

/**
 * A field the form cannot do without (sign-in's user name and password): missing or empty, it is refused naming it, as a
 * form error, before anything is done with the others (a sign-in so refused is no password guess, and counts as none).
 */
function required(label: string, field: string, maxLength?: number) {
  // Its name in the form too: a script that sent another (`username`) learns which the form reads.
  const write = `${label}: missing; write it (the form's field "${field}")`;
  const given = z.string({ error: (issue) => (issue.input === undefined ? write : `${label}: give one value, as text`) }).min(1, write);
  return maxLength === undefined ? given : given.max(maxLength, `${label}: too long (at most ${maxLength} characters)`);
}

/** A query or form: an object of fields (a JSON body of another shape is no form). */
function form<Shape extends z.ZodRawShape>(shape: Shape) {
  return z.object(shape, { error: 'Expected the fields of a form' });
}

/** The `done` and `sig` of an action's signed notice (`ConsoleAccess.notice`). */
const notice = { done: term('Notice (done)'), sig: term('Notice (sig)') };

export const FIELDS = {
  signinPage: form({ next: term('Next page'), expired: term('Expired'), ended: term('Ended'), form: term('Form') }),
  signin: form({ name: required('User name', 'name', MAX_TERM_LENGTH), password: required('Password', 'password'), next: term('Next page') }),
  messages: form({
    number: term('Number'),
    sender: term('Sender'),
    id: term('Message id'),
    status: term('Status'),
    since: term('From'),
    until: term('To'),
    before: term('Page (before)'),
  }),
  message: form(notice),
  conversations: form({ number: term('Number'), before: term('Page (before)') }),
  conversation: form({ before: term('Page (before)') }),
  queuePage: form({ after: term('Page (after)'), replies: term('Page (replies)'), quarantine: term('Page (quarantine)'), ...notice }),
  queue: form({ action: term('Action'), target: term('Target'), sms: term('SMS'), back: term('Back') }),
  reroute: form({ mailbox: term('Mailbox') }),
  quarantineDelete: form({ through: term('Through'), count: term('Count') }),
  send: form({ to: term('Number'), text: text('Text'), submission: term('Form id (submission)') }),
} as const;

/** The fields of one route's query or form, as read. */
export type Fields<Name extends keyof typeof FIELDS> = z.output<(typeof FIELDS)[Name]>;

/** A query's or form's fields as the route's schema reads them, or the refusal naming the first bad field. */
export function readFields<Schema extends z.ZodType>(schema: Schema, given: unknown): { ok: true; fields: z.output<Schema> } | { ok: false; problem: string } {
  const parsed = schema.safeParse(given ?? {});
  if (parsed.success) return { ok: true, fields: parsed.data };
  return { ok: false, problem: parsed.error.issues[0]?.message ?? 'The form could not be read' };
}
