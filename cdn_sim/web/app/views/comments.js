// The comments of a video in a dialog: the list (newest pages on demand) and a form to post one.
import { h, toast, fmt } from '../lib/dom.js';
import { get, post, qs, ApiError } from '../lib/api.js';
import * as session from '../lib/session.js';

export async function openComments(item, button) {
  const list = h('ul', { 'aria-live': 'polite' });
  const more = h('button', { type: 'button', hidden: true }, 'More');
  let cursor = null;
  const load = async () => {
    try {
      const page = await get(`/v1/videos/${item.id}/comments?${qs({ cursor })}`, { auth: !!session.user() });
      for (const c of page.items) list.append(h('li', {}, h('b', {}, `@${c.handle || 'someone'} `), c.body));
      if (!page.items.length && !list.children.length) list.append(h('li', { class: 'muted' }, 'No comments yet.'));
      cursor = page.next_cursor; more.hidden = !cursor;
    } catch (e) { list.append(h('li', { class: 'error' }, e.message)); }
  };
  more.onclick = load;
  const input = h('input', { name: 'body', maxlength: 500, required: true, 'aria-label': 'Add a comment', placeholder: 'Add a comment' });
  const form = h('form', { onsubmit: async (e) => {
    e.preventDefault();
    if (!session.user()) { toast('Log in first'); return; }
    try {
      const c = await post(`/v1/videos/${item.id}/comments`, { body: input.value });
      list.querySelector('.muted')?.remove();
      list.prepend(h('li', {}, h('b', {}, `@${c.handle || 'you'} `), c.body));
      input.value = '';
      item.stats.comments += 1;
      button.querySelector('.count').textContent = fmt(item.stats.comments);
    } catch (err) { toast(err instanceof ApiError ? err.message : 'Could not post'); }
  } }, input, h('button', { class: 'primary' }, 'Post'));
  const dialog = h('dialog', { class: 'comments', 'aria-label': 'Comments' },
    h('h2', {}, 'Comments'), list, more, form,
    h('button', { type: 'button', onclick: () => dialog.close() }, 'Close'));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  await load();
}
