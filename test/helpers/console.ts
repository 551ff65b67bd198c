import assert from 'node:assert/strict';

/** The console's sign-in page at `base`: its session cookie and form token. */
export async function signinFormAt(base: string): Promise<{ cookie: string; token: string }> {
  const page = await fetch(`${base}/console/signin`);
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return { cookie, token: /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? assert.fail('no sign-in token') };
}

/** Signs `name` in to the console at `base` as a browser does (the form's token, then the POST): the session cookie. */
export async function signInAt(base: string, name: string, password: string): Promise<string> {
  const { cookie, token } = await signinFormAt(base);
  const response = await fetch(`${base}/console/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams({ name, password, _csrf: token }),
    redirect: 'manual',
  });
  assert.equal(response.status, 303);
  return (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}
