/**
 * RFC 7807 (9457) problem details, the JSON an HTTP API answers a refusal with (`{"type":…,"title":…,"detail":…}`):
 * Vonage's 429, Puzzel's OpenAPI gateway's 401. Its words are the reason, not the JSON quoted whole.
 */

/** `detail` (what happened this time), else `title` (the kind of problem); undefined for a body that is not one. */
export function problemDetail(body: string): string | undefined {
  let problem: unknown;
  try {
    problem = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof problem !== 'object' || problem === null || Array.isArray(problem)) return undefined;
  for (const field of ['detail', 'title'] as const) {
    const value = (problem as Record<string, unknown>)[field];
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
  }
  return undefined;
}
