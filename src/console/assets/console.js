// Progressive: every page works without this.
// An action's notice (?done=) tells what was just done: reloaded or opened again later it could contradict
// the page ("dispatch resumed" above "paused since"), so once shown it leaves the address.
(() => {
  const shown = new URL(location.href);
  if (!shown.searchParams.has('done')) return;
  shown.searchParams.delete('done');
  shown.searchParams.delete('sig');
  history.replaceState(history.state, '', shown);
})();
// A page that asks for it (data-refresh, in seconds) is fetched again and its <main> swapped, keeping focus and scroll.
// A refresh that fails says so, and since when, until one succeeds: the page shows what it knew then, each section marked
// stale. The relay's own refusal (its problem page, `.error[data-code]`: the store unavailable or busy, a full disk) is
// said in its words and code, the relay having answered; "not reachable" only when no answer came, and an answer not the
// relay's own (a proxy's 502, or a 200 that is not this page: a sign-on's) is said to be one.
(() => {
  const main = document.querySelector('main[data-refresh]');
  if (!main) return;
  const seconds = Number(main.dataset.refresh);
  const notice = document.createElement('p');
  notice.className = 'error';
  notice.setAttribute('role', 'alert');
  let failingSince;
  const markStale = (stale) => {
    for (const section of main.querySelectorAll('section')) {
      section.classList.toggle('stale', stale);
      const heading = section.querySelector('h2');
      let mark = heading?.querySelector('.stale-mark');
      if (stale && heading && !mark) {
        mark = document.createElement('span');
        mark.className = 'stale-mark';
        mark.textContent = ' (stale: as of the last refresh that worked)';
        heading.append(mark);
      }
      if (!stale) mark?.remove();
    }
  };
  const failed = (words) => {
    failingSince ??= new Date();
    notice.textContent = words(`${failingSince.toISOString().slice(11, 19)} UTC`);
    if (!notice.isConnected) main.prepend(notice);
    markStale(true);
  };
  const stale = 'what this page knew then, each section marked stale.';
  // The relay's own refusal: its problem page (`.error[data-code]`), or the JSON the relay answers with when the console
  // leaves an error to it (`{error, message}`, the code as its catalogue writes codes: an INTERNAL 500); undefined for any other.
  const relayRefusal = (response, body, fresh) => {
    const page = fresh?.querySelector('.error[data-code]');
    if (page) return { code: page.dataset.code, words: page.textContent };
    if (!/^application\/json\b/i.test(response.headers.get('content-type') ?? '')) return undefined;
    let json;
    try {
      json = JSON.parse(body);
    } catch {
      return undefined;
    }
    const relays = typeof json?.error === 'string' && /^[A-Z][A-Z0-9_]*$/.test(json.error) && typeof json.message === 'string';
    return relays ? { code: json.error, words: json.message } : undefined;
  };
  // One refresh at a time: one that has not come back (a relay waiting on its store) is not joined by another every 15 s,
  // each holding a connection the browser and the relay have few of.
  let inFlight = false;
  const refresh = async () => {
    if (document.hidden || inFlight) return;
    inFlight = true;
    try {
      await refreshOnce();
    } finally {
      inFlight = false;
    }
  };
  const refreshOnce = async () => {
    let response;
    try {
      // Marked as the page's own refresh (access.ts, REFRESH_HEADER): no use of the session, which ends after its idle timeout.
      response = await fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html', 'x-console-refresh': '1' } });
    } catch {
      return failed((since) => `Relay not reachable since ${since} (no answer). Below: ${stale}`);
    }
    // Sent to sign-in: the session is over, which the page itself then says.
    if (response.redirected) return location.reload();
    const body = await response.text().catch(() => '');
    const fresh = new DOMParser().parseFromString(body, 'text/html').querySelector('main');
    // This page again (a <main> that refreshes), not a page that answered 200 in its place (a proxy's, a sign-on's).
    if (!response.ok || !fresh?.matches('main[data-refresh]')) {
      const refusal = relayRefusal(response, body, fresh);
      if (refusal) return failed((since) => `Since ${since} the relay answers (HTTP ${response.status}, ${refusal.code}): ${refusal.words} Below: ${stale}`);
      return failed(
        (since) =>
          `No page from the relay since ${since}: HTTP ${response.status} came instead, not the relay's own answer (a proxy or server between?). Below: ${stale}`,
      );
    }
    failingSince = undefined;
    notice.remove();
    markStale(false);
    if (!main.contains(document.activeElement)) main.innerHTML = fresh.innerHTML;
  };
  setInterval(() => void refresh(), seconds * 1000);
})();
