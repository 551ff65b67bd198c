// Progressive: every page works without this. It only refreshes a page that asks for it
// (data-refresh, in seconds) by fetching it again and swapping its <main>, keeping focus and scroll.
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
