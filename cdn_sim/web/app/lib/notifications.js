// The unread badge, kept live over the notifications stream (events `unread` and `notification`); falls
// back to polling GET /v1/me/notifications/unread (or the list's `unread`) where there is no stream yet.
import { get } from './api.js';
import { subscribe } from './sse.js';
import * as session from './session.js';

const listeners = new Set();
let stop = null, poll = null;
export let unread = 0;

function set(n) {
  unread = n;
  const badge = document.getElementById('unread');
  if (badge) { badge.hidden = !n; badge.textContent = n > 99 ? '99+' : String(n); }
  listeners.forEach((f) => f({ unread: n }));
}

export function onNotification(f) { listeners.add(f); return () => listeners.delete(f); }

async function count() {
  try { set((await get('/v1/me/notifications/unread')).unread); } catch {
    try { set((await get('/v1/me/notifications?limit=1')).unread); } catch { /* signed out */ }
  }
}

export function start() {
  stop?.(); clearInterval(poll);
  if (!session.user()) { set(0); return; }
  count();
  stop = subscribe('/v1/me/notifications/stream', (event, data) => {
    if (event === 'unread') set(data.unread ?? data);
    else if (event === 'notification') { listeners.forEach((f) => f({ notification: data })); if (data.unread !== undefined) set(data.unread); else set(unread + 1); }
  });
  poll = setInterval(count, 30000);  // a safety net while no stream answers
}
export { count as refreshUnread };
