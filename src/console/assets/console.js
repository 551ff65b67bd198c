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
(() => {
  const main = document.querySelector('main[data-refresh]');
  if (!main) return;
  const seconds = Number(main.dataset.refresh);
  const refresh = async () => {
    if (document.hidden) return;
    const response = await fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } });
    if (response.redirected || !response.ok) return location.reload();
    const fresh = new DOMParser().parseFromString(await response.text(), 'text/html').querySelector('main');
    if (fresh && !main.contains(document.activeElement)) main.innerHTML = fresh.innerHTML;
  };
  setInterval(() => void refresh().catch(() => undefined), seconds * 1000);
})();
