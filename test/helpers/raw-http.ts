import { request } from 'undici';

export interface RawRequest {
  readonly method?: 'GET' | 'POST' | undefined;
  /** Query string included. */
  readonly path: string;
  readonly contentType?: string | undefined;
  readonly accept?: string | undefined;
  readonly body?: string | undefined;
}

export interface RawResponse {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
}

/** Sends `raw` to `base` as it is (POST unless told otherwise; no header it does not name) and reads the whole answer. */
export async function sendRaw(base: string, raw: RawRequest): Promise<RawResponse> {
  const headers: Record<string, string> = {};
  if (raw.contentType !== undefined) headers['content-type'] = raw.contentType;
  if (raw.accept !== undefined) headers['accept'] = raw.accept;
  const response = await request(`${base}${raw.path}`, {
    method: raw.method ?? 'POST',
    headers,
    ...(raw.body === undefined ? {} : { body: raw.body }),
  });
  const contentType = response.headers['content-type'];
  return { status: response.statusCode, contentType: typeof contentType === 'string' ? contentType : undefined, body: await response.body.text() };
}
