/**
 * Structured clone turns a Buffer into a plain Uint8Array on the way between threads; SQLite binds
 * and the mail transports want Buffers. Views over the same memory, no copies.
 */
export function toBuffers(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(toBuffers);
  if (value instanceof Set || value instanceof Map || value === null || typeof value !== 'object') return value;
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) result[key] = toBuffers(item);
  return result;
}
