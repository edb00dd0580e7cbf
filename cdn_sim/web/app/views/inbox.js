// Notifications inbox: newest first, unread marked; live additions from the stream; "mark all read".
import { h } from '../lib/dom.js';
import { get, post } from '../lib/api.js';
import * as session from '../lib/session.js';
import { onNotification, refreshUnread } from '../lib/notifications.js';

const TEXT = { video_playable: 'Your video is playable', video_failed: 'Your video failed', video_rejected: 'Your video was rejected',
               video_removed: 'Your video was removed', video_restored: 'Your video was restored', appeal_denied: 'Your appeal was denied',
               comment_removed: 'Your comment was removed', video_liked: 'liked your video', video_commented: 'commented on your video',
               comment_replied: 'replied to your comment', new_follower: 'followed you' };

function line(n) {
  // The API's sentence names the actor already ("@ana liked your video"); TEXT is for older items without one.
  const who = n.text ? null : n.actor?.handle;
  const what = n.text || TEXT[n.kind] || n.kind;
  return h('li', { class: n.read ? '' : 'unread', 'data-kind': n.kind },
    who ? h('b', {}, `@${who} `) : null, what,
    n.video_id ? h('span', {}, ' · ', h('a', { href: `/app/v/${n.video_id}` }, 'open')) : null,
    h('div', { class: 'muted' }, new Date(n.created_at).toLocaleString()));
}

export async function render(root) {
  if (!session.user()) { root.append(h('p', { class: 'page' }, h('a', { href: '/app/login' }, 'Log in'), ' to see your notifications.')); return; }
  const list = h('ul', { class: 'list', id: 'notifications', 'aria-live': 'polite' });
  let newest = 0;
  const load = async () => {
    const page = await get('/v1/me/notifications?limit=50');
    list.replaceChildren(...page.items.map(line));
    newest = page.items[0]?.id || 0;
    if (!page.items.length) list.append(h('li', { class: 'muted' }, 'Nothing yet.'));
  };
  const mark = h('button', { type: 'button', onclick: async () => { if (newest) { await post('/v1/me/notifications/read', { up_to_id: newest }); await load(); refreshUnread(); } } }, 'Mark all read');
  root.append(h('div', { class: 'page' }, h('h1', {}, 'Inbox'), mark, list));
  try { await load(); } catch (e) { list.append(h('li', { class: 'error' }, e.message)); }
  return onNotification((m) => { if (m.notification) load().catch(() => {}); });
}
