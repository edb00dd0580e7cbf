// One hls.js instance per video element. A card about to be watched is attached early with a small
// buffer goal (the Python player's prefetch: only the first segment or two of the next videos), and
// gets the full buffer when it becomes the one on screen. Far-away cards are detached to free memory.
import Hls from 'hls.js';

export const PREFETCH_BUFFER_S = 4;   // about two 2 s segments, like delivery/feed.py's prefetch
export const PLAYING_BUFFER_S = 30;

window.reelflow = Object.assign({ fragments: 0, errors: [], attached: 0, hinted: 0, warmed: 0 }, window.reelflow);

// A card's prefetch hint (the API's `prefetch`): the rendition the Python player starts on at 1 Mbit/s.
// hls.js starts on it (its playlist, init and first segment may already be in the HTTP cache, see warm()).
function startOnHint(hls, hint) {
  if (!hint) return;
  hls.on(Hls.Events.MANIFEST_PARSED, (_, d) => {
    const urlOf = (l) => l.uri || (Array.isArray(l.url) ? l.url[0] : l.url);
    const i = d.levels.findIndex((l) => urlOf(l) === hint.rendition_url);
    if (i >= 0 && hls.startLevel < 0) { hls.startLevel = i; window.reelflow.hinted += 1; }
  });
}

// Fetch a card's hinted start (master, playlists, init and first segments) into the HTTP cache, at low
// priority, all at once: one round trip, for a card beyond the attached ones. hls.js later finds it cached.
const warmed = new Set();
export function warm(hint) {
  if (!hint || warmed.has(hint.master_url)) return;
  warmed.add(hint.master_url);
  const urls = [hint.master_url, hint.rendition_url, hint.init_url, hint.first_segment_url];
  if (hint.audio) urls.push(hint.audio.rendition_url, hint.audio.init_url, hint.audio.first_segment_url);
  for (const u of urls) {
    fetch(u, { priority: 'low', credentials: 'omit' }).then((r) => r.arrayBuffer()).then(
      () => { window.reelflow.warmed += 1; }, () => {});
  }
}

export function attach(video, url, { prefetch = false, hint = null } = {}) {
  if (video._hls || video._src) { if (!prefetch) promote(video); return; }
  const buf = prefetch ? PREFETCH_BUFFER_S : PLAYING_BUFFER_S;
  if (Hls.isSupported()) {
    const hls = new Hls({ maxBufferLength: buf, maxMaxBufferLength: buf, startFragPrefetch: true,
                          capLevelToPlayerSize: true, backBufferLength: 10 });
    startOnHint(hls, hint);
    hls.on(Hls.Events.FRAG_LOADED, () => { window.reelflow.fragments += 1; });
    hls.on(Hls.Events.ERROR, (_, d) => {
      window.reelflow.errors.push(`${d.fatal ? 'fatal ' : ''}${d.type}: ${d.details}`);
      if (d.fatal && d.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
      else if (d.fatal && d.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    video._hls = hls;
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = url; video._src = url;  // Safari plays HLS natively
  }
  window.reelflow.engine = `hls.js ${Hls.version}`;
  window.reelflow.attached += 1;
  video.preload = 'auto';
}

export function promote(video) {
  const hls = video._hls;
  if (hls && hls.config.maxBufferLength < PLAYING_BUFFER_S) {
    hls.config.maxBufferLength = PLAYING_BUFFER_S;
    hls.config.maxMaxBufferLength = PLAYING_BUFFER_S;
  }
}

export function detach(video) {
  if (video._hls) { video._hls.destroy(); video._hls = null; }
  if (video._src) { video.removeAttribute('src'); video.load(); video._src = null; }
}
