/**
 * What the relay takes from outside (a mail's subject and headers, an SMS's text, a sender's name, a user context, a
 * report's words, a reason quoting them) as the store keeps it, whichever store: without its NULs. PostgreSQL's text
 * holds no NUL (SQLite's does), so a value with one would be refused by one store on every retry of its mail or
 * request (a 451 or a 503 for good) and kept by the other. Removed, not replaced: what the relay writes from it drops
 * control characters anyway (an SMS's text, its reply mail's body), so it reads the same, and nothing is made up in
 * their place. Every other character PostgreSQL's UTF-8 text takes; a lone UTF-16 surrogate, the one other it cannot
 * encode, is written as U+FFFD by its client (the webhooks quarantine a single SMS holding one, webhooks.ts wholeCharacters; a long SMS's part keeps its half for the join).
 * Bytes (a raw mail, a quarantined body) are kept as bytes and left as they are.
 */
export function storable<T>(value: T): T {
  if (typeof value === 'string') return (value.includes('\0') ? value.replaceAll('\0', '') : value) as T;
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) {
    const items = value.map(storable);
    return (items.some((item, index) => item !== value[index]) ? items : value) as T;
  }
  let kept: Record<string, unknown> | undefined;
  for (const [key, field] of Object.entries(value)) {
    const stored = storable(field);
    if (stored === field) continue;
    kept ??= { ...(value as Record<string, unknown>) };
    kept[key] = stored;
  }
  return (kept ?? value) as T;
}
