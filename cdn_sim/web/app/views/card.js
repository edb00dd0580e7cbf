// One feed card: the video (attached to hls.js by the feed when near the screen), who and what, and the
// actions: like, comments, share, follow, not interested.
import { h, toast, fmt } from '../lib/dom.js';
import { post, del, ApiError } from '../lib/api.js';
import * as session from '../lib/session.js';
import { watch } from '../lib/telemetry.js';
import { openComments } from './comments.js';

function actionButton(icon, label, count, onclick, pressed) {
  return h('button', { type: 'button', 'aria-label': label, 'aria-pressed': pressed === undefined ? null : String(pressed), onclick },
    h('span', { class: 'icon', 'aria-hidden': 'true' }, icon), h('span', { class: 'count' }, count));
}

async function guarded(fn) {
  if (!session.user()) { toast('Log in first'); return; }
  try { await fn(); } catch (e) { toast(e instanceof ApiError ? e.message : 'Something went wrong'); }
}

export function card(item, { onNotInterested } = {}) {
  const video = h('video', { playsinline: true, muted: true, loop: true, preload: 'none', poster: item.poster_url || null,
                             'aria-label': `Video by @${item.author?.handle || 'unknown'}: ${item.caption}` });
  video.muted = true;
  watch(video, item.id);
  const likeBtn = actionButton('♥', 'Like', fmt(item.stats.likes), () => guarded(async () => {
    const liked = likeBtn.getAttribute('aria-pressed') === 'true';
    const s = liked ? await del(`/v1/videos/${item.id}/like`) : await post(`/v1/videos/${item.id}/like`);
    likeBtn.setAttribute('aria-pressed', String(s.liked));
    likeBtn.querySelector('.count').textContent = fmt(s.likes);
  }), false);
  likeBtn.classList.add('like');
  const commentBtn = actionButton('≡', 'Comments', fmt(item.stats.comments), () => openComments(item, commentBtn));
  const shareBtn = actionButton('↗', 'Share', fmt(item.stats.shares), () => guarded(async () => {
    const link = `${location.origin}/app/v/${item.id}`;
    try { await navigator.clipboard.writeText(link); toast('Link copied'); } catch { toast(link); }
    const s = await post(`/v1/videos/${item.id}/share`, { channel: 'link' });
    shareBtn.querySelector('.count').textContent = fmt(s.shares);
  }));
  const followBtn = actionButton('+', `Follow @${item.author?.handle}`, 'Follow', () => guarded(async () => {
    const on = followBtn.getAttribute('aria-pressed') === 'true';
    const s = on ? await del(`/v1/users/${item.author.id}/follow`) : await post(`/v1/users/${item.author.id}/follow`);
    followBtn.setAttribute('aria-pressed', String(s.following));
    followBtn.querySelector('.count').textContent = s.following ? 'Following' : 'Follow';
  }), false);
  const notBtn = actionButton('✕', 'Not interested', 'Not for me', () => guarded(async () => {
    await post(`/v1/videos/${item.id}/not_interested`, { kind: 'creator' });
    toast('Fewer videos like this');
    onNotInterested?.(item);
  }));
  const mine = session.user()?.user_id === item.author?.id;
  const tags = (item.hashtags || []).map((t) => h('a', { href: `/app/tag/${encodeURIComponent(t)}` }, `#${t}`));
  const el = h('article', { class: 'card', 'data-video-id': item.id, 'aria-roledescription': 'video' },
    video,
    h('div', { class: 'meta' },
      h('a', { href: `/app/search?q=${encodeURIComponent('@' + (item.author?.handle || ''))}` }, `@${item.author?.handle || 'unknown'}`),
      h('p', {}, item.caption),
      h('p', { class: 'tags' }, tags, item.sound_id ? h('a', { href: `/app/sound/${encodeURIComponent(item.sound_id)}` }, `♪ ${item.sound_id}`) : null)),
    h('div', { class: 'actions' }, likeBtn, commentBtn, shareBtn, mine ? null : followBtn, mine ? null : notBtn));
  el.video = video; el.item = item;
  return el;
}
