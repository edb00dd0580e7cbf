// Upload page: file, caption, hashtags -> progress bar -> live processing status (SSE) -> play it.
import { h } from '../lib/dom.js';
import { ApiError, get } from '../lib/api.js';
import * as session from '../lib/session.js';
import { subscribe } from '../lib/sse.js';
import { uploadFile } from '../lib/upload.js';
import { attach } from '../lib/player.js';

const LABELS = { processing: 'Processing started', validated: 'Checked', playable: 'Playable', ready: 'Ready: every rendition published',
                 rejected: 'Rejected', failed: 'Failed' };

export async function render(root) {
  if (!session.user()) { root.append(h('p', { class: 'page' }, h('a', { href: '/app/login' }, 'Log in'), ' to upload.')); return; }
  const bar = h('progress', { max: 1, value: 0, 'aria-label': 'Upload progress', hidden: true });
  const pct = h('span', { class: 'muted', 'aria-live': 'polite' });
  const steps = h('ol', { class: 'steps', 'aria-live': 'polite', 'aria-label': 'Processing status' });
  const error = h('p', { class: 'error', role: 'alert' });
  const player = h('div');
  let stop = null;
  const form = h('form', { class: 'stack', 'aria-label': 'Upload a video', onsubmit: async (e) => {
    e.preventDefault(); error.textContent = '';
    const data = new FormData(form);
    const file = data.get('file');
    const hashtags = String(data.get('hashtags') || '').split(/[\s,]+/).map((t) => t.replace(/^#/, '')).filter(Boolean);
    form.querySelector('button').disabled = true; bar.hidden = false;
    try {
      const video = await uploadFile(file, { caption: data.get('caption'), hashtags }, (sent, total) => {
        bar.value = sent / total; pct.textContent = `${Math.round((100 * sent) / total)} % sent`;
      });
      pct.textContent = 'Uploaded; processing…';
      document.body.dataset.uploadedVideo = video.id;
      stop = subscribe(`/v1/videos/${video.id}/events`, async (kind, data) => {
        const k = data.kind || kind;
        steps.append(h('li', { 'data-kind': k }, LABELS[k] || k, data.detail?.reason ? `: ${data.detail.reason}` : ''));
        if (k === 'playable' || k === 'ready') {
          const v = await get(`/v1/videos/${video.id}`);
          if (v.playback_url && !player.firstChild) {
            const el = h('video', { controls: true, muted: true, playsinline: true, 'aria-label': 'Your new video', style: 'max-height:60vh;width:100%' });
            player.append(el); attach(el, v.playback_url); el.play().catch(() => {});
          }
        }
      }, { stopOn: (kind, data) => ['ready', 'rejected', 'failed'].includes(data.kind || kind) });
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err.message || err);
      form.querySelector('button').disabled = false;
    }
  } },
  h('label', {}, 'Video file', h('input', { type: 'file', name: 'file', accept: 'video/*', required: true })),
  h('label', {}, 'Caption', h('textarea', { name: 'caption', maxlength: 2200, rows: 2 })),
  h('label', {}, 'Hashtags', h('input', { name: 'hashtags', placeholder: 'cats, travel' })),
  h('button', { class: 'primary', type: 'submit' }, 'Upload'));
  root.append(h('div', { class: 'page' }, h('h1', {}, 'Upload'), form, bar, pct, error, steps, player));
  return () => stop?.();
}
