// Client-side routes under /app (the edge answers index.html for them) and / for the For You feed.
const routes = [];
let current = null;

export function route(pattern, load) {
  // pattern: '/app/tag/:tag'; load: () => import('../views/x.js') whose render(root, params) may return a cleanup
  const keys = [];
  const re = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, k) => { keys.push(k); return '([^/]+)'; })}/?$`);
  routes.push({ re, keys, load, pattern });
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState({}, '', url); else history.pushState({}, '', url);
  render();
}

export async function render() {
  const path = location.pathname;
  const root = document.getElementById('view');
  for (const r of routes) {
    const m = path.match(r.re);
    if (!m) continue;
    const params = Object.fromEntries(r.keys.map((k, i) => [k, decodeURIComponent(m[i + 1])]));
    if (typeof current === 'function') current();
    current = null;
    root.replaceChildren();
    const view = await r.load();
    current = await view.render(root, params, new URLSearchParams(location.search));
    document.querySelectorAll('[data-nav]').forEach((a) => {
      if (a.getAttribute('href') === path || (path === '/' && a.dataset.nav === 'feed')) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    return;
  }
  root.replaceChildren(Object.assign(document.createElement('p'), { className: 'page', textContent: 'Page not found.' }));
}

export function start() {
  addEventListener('popstate', render);
  document.addEventListener('click', (e) => {
    const a = e.target.closest('a[data-link], a[href^="/app"], a[href="/"]');
    if (!a || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  render();
}
