// Search as you type: suggestions after 150 ms, results (videos, people, hashtags, sounds) after 300 ms.
import { h, debounce, fmt } from '../lib/dom.js';
import { get, qs } from '../lib/api.js';
import * as session from '../lib/session.js';

const TYPES = [['videos', 'Videos'], ['users', 'People'], ['hashtags', 'Hashtags'], ['sounds', 'Sounds']];

function resultItem(type, it) {
  if (type === 'videos') return h('a', { href: `/app/v/${it.id}`, style: it.poster_url ? `background-image:url("${it.poster_url}")` : null,
                                        'data-video-id': it.id }, h('span', {}, it.caption));
  if (type === 'users') return h('a', { href: `/app/search?q=${encodeURIComponent('@' + it.handle)}` }, `@${it.handle} `, h('span', { class: 'muted' }, `${fmt(it.followers)} followers`));
  if (type === 'hashtags') return h('a', { href: `/app/tag/${encodeURIComponent(it.tag)}` }, `#${it.tag} `, h('span', { class: 'muted' }, `${fmt(it.videos)} videos`));
  return h('a', { href: `/app/sound/${encodeURIComponent(it.sound_id)}` }, `♪ ${it.sound_id} `, h('span', { class: 'muted' }, `${fmt(it.videos)} videos`));
}

export async function render(root, _params, query) {
  const input = h('input', { type: 'search', name: 'q', placeholder: 'Search videos, people, hashtags, sounds', 'aria-label': 'Search',
                             autocomplete: 'off', role: 'combobox', 'aria-controls': 'suggestions', 'aria-expanded': 'false', value: query.get('q') || '' });
  const suggestions = h('ul', { class: 'suggest', id: 'suggestions', role: 'listbox', hidden: true });
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const auth = !!session.user();
  let seq = 0;
  const suggest = debounce(async (q) => {
    if (q.trim().length < 2) { suggestions.hidden = true; return; }
    try {
      const s = await get(`/v1/search/suggest?${qs({ q })}`, { auth });
      suggestions.replaceChildren(...s.items.map((it) => h('li', { role: 'option' }, h('a', {
        href: it.kind === 'hashtag' ? `/app/tag/${encodeURIComponent(it.text.replace(/^#/, ''))}` : `/app/search?q=${encodeURIComponent(it.text)}` }, it.text))));
      suggestions.hidden = !s.items.length; input.setAttribute('aria-expanded', String(!suggestions.hidden));
    } catch { suggestions.hidden = true; }
  }, 150);
  const search = debounce(async (q) => {
    const mine = ++seq;
    if (q.trim().length < 2) { results.replaceChildren(); return; }
    history.replaceState({}, '', `/app/search?${qs({ q })}`);
    const pages = await Promise.all(TYPES.map(([type]) => get(`/v1/search?${qs({ q, type, limit: 12 })}`, { auth }).catch(() => null)));
    if (mine !== seq) return;  // a newer query is on its way
    const out = [];
    const corr = pages[0]?.corrections || [];
    if (corr.length) out.push(h('p', { class: 'muted', id: 'corrections' }, 'Also searched: ', corr.map((c) => `${c.word} → ${c.also_searched.join(', ')}`).join('; ')));
    TYPES.forEach(([type, label], i) => {
      const items = pages[i]?.items || [];
      if (!items.length) return;
      out.push(h('section', { 'data-type': type }, h('h2', {}, label),
        type === 'videos' ? h('div', { class: 'grid' }, items.map((it) => resultItem(type, it)))
                          : h('ul', { class: 'list' }, items.map((it) => h('li', {}, resultItem(type, it))))));
    });
    if (!out.length) out.push(h('p', { class: 'muted' }, 'No results.'));
    results.replaceChildren(...out);
  }, 300);
  input.addEventListener('input', () => { suggest(input.value); search(input.value); });
  root.append(h('div', { class: 'page' }, h('h1', {}, 'Search'), h('form', { role: 'search', onsubmit: (e) => { e.preventDefault(); search(input.value); } }, input, suggestions), results));
  input.focus();
  if (input.value) search(input.value);
}
