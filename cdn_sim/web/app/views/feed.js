// A vertical, full-screen feed: scroll-snap does the swiping (touch and wheel), arrow keys and j/k too.
// The card on screen plays; the next two are attached with a small buffer (prefetch), starting on the rung
// their card's prefetch hint names; the one after them has its hinted start fetched into the HTTP cache;
// cards further than three away are detached. Used by For You, Following, Trending, hashtag and sound pages.
import { h } from '../lib/dom.js';
import { get, qs, ApiError } from '../lib/api.js';
import * as session from '../lib/session.js';
import { attach, detach, promote, warm } from '../lib/player.js';
import { flush } from '../lib/telemetry.js';
import { card } from './card.js';

const PREFETCH_NEXT = 2, KEEP_BEHIND = 1;

export function feedView({ type, tag, sound_id, title, items: fixed }) {
  return async (root) => {
    if (!session.user() && !fixed) {
      root.append(h('div', { class: 'empty' }, h('p', {}, 'Log in to see your feed. ', h('a', { href: '/app/login' }, 'Log in'))));
      return;
    }
    const feed = h('section', { class: 'feed', 'aria-label': title, tabindex: '0' });
    root.append(feed);
    const state = { cursor: null, done: !!fixed, loading: false, active: -1, cards: [] };
    window.reelflow = Object.assign(window.reelflow || {}, { feed: state });

    const add = (items) => {
      for (const item of items) {
        const el = card(item, { onNotInterested: () => { const i = state.cards.indexOf(el); el.remove(); state.cards.splice(i, 1); focus(Math.min(i, state.cards.length - 1)); } });
        state.cards.push(el); feed.append(el); observer.observe(el);
      }
    };
    const more = async () => {
      if (state.loading || state.done) return;
      state.loading = true;
      try {
        const page = await get(`/v1/feed?${qs({ type, tag, sound_id, cursor: state.cursor, limit: 8 })}`);
        add(page.items);
        state.cursor = page.next_cursor; state.done = !page.next_cursor || !page.items.length;
        if (!state.cards.length) feed.append(h('div', { class: 'empty' }, h('p', {}, 'Nothing here yet.')));
        if (state.active < 0 && state.cards.length) focus(0);
      } catch (e) {
        feed.append(h('p', { class: 'page error' }, e instanceof ApiError ? e.message : 'Could not load the feed'));
      } finally { state.loading = false; }
    };
    const focus = (i) => {
      if (i < 0 || i >= state.cards.length || i === state.active) return;
      state.active = i;
      state.cards.forEach((c, j) => {
        const v = c.video;
        const hint = c.item.prefetch;
        if (j === i) { attach(v, c.item.playback_url, { hint }); promote(v); v.play().catch(() => {}); }
        else {
          v.pause();
          if (j > i && j <= i + PREFETCH_NEXT) attach(v, c.item.playback_url, { prefetch: true, hint });
          else if (j === i + PREFETCH_NEXT + 1) warm(hint);
          if (j < i - KEEP_BEHIND || j > i + PREFETCH_NEXT + 1) detach(v);
        }
      });
      if (state.cards.length - i <= 3) more();
      flush();
    };
    const observer = new IntersectionObserver((entries) => {
      for (const e of entries) if (e.isIntersecting && e.intersectionRatio >= 0.6) focus(state.cards.indexOf(e.target));
    }, { root: feed, threshold: [0.6] });
    const go = (d) => { const next = state.cards[state.active + d]; if (next) next.scrollIntoView({ behavior: 'smooth' }); };
    const onKey = (e) => {
      if (e.target.closest('input, textarea, dialog')) return;
      if (e.key === 'ArrowDown' || e.key === 'j' || e.key === 'PageDown') { e.preventDefault(); go(1); }
      else if (e.key === 'ArrowUp' || e.key === 'k' || e.key === 'PageUp') { e.preventDefault(); go(-1); }
      else if (e.key === 'm') { const v = state.cards[state.active]?.video; if (v) v.muted = !v.muted; }
    };
    document.addEventListener('keydown', onKey);
    state.next = () => go(1);
    if (fixed) { add(fixed); if (state.cards.length) focus(0); } else await more();
    feed.focus({ preventScroll: true });
    return () => { document.removeEventListener('keydown', onKey); observer.disconnect(); state.cards.forEach((c) => detach(c.video)); flush(); };
  };
}
