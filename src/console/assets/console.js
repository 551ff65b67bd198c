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
// A refresh that fails says so, and since when, until one succeeds: the page shows what it knew then.
(() => {
  const main = document.querySelector('main[data-refresh]');
  if (!main) return;
  const seconds = Number(main.dataset.refresh);
  const unreachable = document.createElement('p');
  unreachable.className = 'error';
  unreachable.setAttribute('role', 'alert');
  let failingSince;
  const failed = (why) => {
    failingSince ??= new Date();
    unreachable.textContent = `Relay not reachable since ${failingSince.toISOString().slice(11, 19)} UTC (${why}): this page shows what it knew then.`;
    if (!unreachable.isConnected) main.prepend(unreachable);
  };
  const refresh = async () => {
    if (document.hidden) return;
    let response;
    try {
      // Marked as the page's own refresh (access.ts, REFRESH_HEADER): no use of the session, which ends after its idle timeout.
      response = await fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html', 'x-console-refresh': '1' } });
    } catch {
      return failed('no answer');
    }
    // Sent to sign-in: the session is over, which the page itself then says.
    if (response.redirected) return location.reload();
    if (!response.ok) return failed(`HTTP ${response.status}`);
    const fresh = new DOMParser().parseFromString(await response.text(), 'text/html').querySelector('main');
    failingSince = undefined;
    unreachable.remove();
    if (fresh && !main.contains(document.activeElement)) main.innerHTML = fresh.innerHTML;
  };
  setInterval(() => void refresh(), seconds * 1000);
})();
