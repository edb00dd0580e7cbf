// Playback events for POST /v1/interactions, batched: view_start when a video starts, progress every few
// seconds (watch_ms since the last event of that video, position as a share), complete at the end.
import { post } from './api.js';
import * as session from './session.js';

const FLUSH_MS = 5000, MAX_BATCH = 50;
const sessionId = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
let queue = [];
let timer = null;

export function record(video_id, kind, { watch_ms, progress } = {}) {
  if (!session.user()) return;  // the API logs events of signed-in viewers only
  const e = { video_id, kind, session_id: sessionId };
  if (watch_ms !== undefined) e.watch_ms = Math.max(0, Math.min(3_600_000, Math.round(watch_ms)));
  if (progress !== undefined) e.progress = Math.max(0, Math.min(1, Number(progress.toFixed(4))));
  queue.push(e);
  if (queue.length >= MAX_BATCH) flush();
  else timer ??= setTimeout(flush, FLUSH_MS);
}

export async function flush({ keepalive = false } = {}) {
  clearTimeout(timer); timer = null;
  if (!queue.length) return;
  const events = queue.splice(0, 100);
  try { await post('/v1/interactions', { events }, { keepalive }); } catch { /* best effort, as in the player */ }
}

addEventListener('pagehide', () => flush({ keepalive: true }));
document.addEventListener('visibilitychange', () => { if (document.hidden) flush({ keepalive: true }); });

// Watches one <video>: reports its view, progress and completion.
export function watch(video, videoId) {
  let last = null, started = false, reported = 0;
  const elapsed = () => { const now = performance.now(); const d = last === null ? 0 : now - last; last = now; return d; };
  let acc = 0;
  video.addEventListener('playing', () => {
    last = performance.now();
    if (!started) { started = true; record(videoId, 'view_start', { progress: 0 }); }
  });
  video.addEventListener('pause', () => { acc += elapsed(); last = null; });
  video.addEventListener('timeupdate', () => {
    if (last !== null) acc += elapsed();
    const d = video.duration || 0;
    if (!d) return;
    if (video.currentTime - reported >= 3 || (video.currentTime < reported)) {
      reported = video.currentTime;
      record(videoId, 'progress', { watch_ms: acc, progress: video.currentTime / d }); acc = 0;
    }
    if (d - video.currentTime < 0.3 && !video._completed) {
      video._completed = true;
      record(videoId, 'complete', { watch_ms: acc, progress: 1 }); acc = 0;
    }
  });
  video.addEventListener('seeked', () => { if (video.currentTime < 0.5) video._completed = false; });
}
