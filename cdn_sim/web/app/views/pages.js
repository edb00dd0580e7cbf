// The feed pages and the single-video page.
import { get } from '../lib/api.js';
import * as session from '../lib/session.js';
import { feedView } from './feed.js';

export const forYou = { render: feedView({ type: 'for_you', title: 'For You' }) };
export const following = { render: feedView({ type: 'following', title: 'Following' }) };
export const trending = { render: feedView({ type: 'trending', title: 'Trending' }) };
export const tag = { render: (root, p) => feedView({ type: 'hashtag', tag: p.tag, title: `#${p.tag}` })(root) };
export const sound = {
  render: async (root, p) => {
    let items = null;
    try { items = (await get(`/v1/sounds/${encodeURIComponent(p.id)}/videos`, { auth: !!session.user() })).items; } catch { /* not there yet: the feed */ }
    return feedView(items ? { items, title: `Sound ${p.id}` } : { type: 'sound', sound_id: p.id, title: `Sound ${p.id}` })(root);
  },
};
export const video = {
  render: async (root, p) => {
    const auth = !!session.user();
    const v = await get(`/v1/videos/${p.id}`, { auth });
    let related = [];
    try { related = (await get(`/v1/videos/${p.id}/related`, { auth })).items; } catch { /* none */ }
    const first = { ...v, author: v.author || { id: '', handle: '' } };
    return feedView({ items: [first, ...related], title: v.caption })(root);
  },
};
