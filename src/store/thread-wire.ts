/**
 * Structured clone turns a Buffer into a plain Uint8Array on the way between threads; SQLite binds
 * and the mail transports want Buffers. Views over the same memory, no copies. A clone belongs to
 * the thread that received it, so its objects and arrays are changed in place: per call nothing but
 * the Buffers is allocated (a copy of every object around them was garbage per mail, both ways).
 */
export function toBuffers(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value === null || typeof value !== 'object' || value instanceof Set || value instanceof Map) return value;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) value[index] = toBuffers(value[index]);
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const item = record[key];
    if (item !== null && typeof item === 'object') record[key] = toBuffers(item);
  }
  return value;
}
