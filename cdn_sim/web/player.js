// Plays ?src=<master playlist> with hls.js (or natively where the browser does HLS) and publishes its
// progress on window.reelflow, which the headless-Chromium test reads over the DevTools protocol.
"use strict";

const video = document.getElementById("video");
const statusLine = document.getElementById("status");
const state = (window.reelflow = { engine: null, level: null, levels: [], fragments: 0, errors: [], ended: false });

function show() {
  const level = state.levels[state.level];
  statusLine.textContent = `${state.engine} · ${level ? `${level.height}p ${level.codecs}` : "…"} · ` +
    `${video.currentTime.toFixed(1)} s · ${state.fragments} segments` +
    (state.errors.length ? ` · ${state.errors[state.errors.length - 1]}` : "");
}

const src = new URLSearchParams(location.search).get("src");
if (!src) {
  state.errors.push("no ?src= given");
} else if (window.Hls && Hls.isSupported()) {
  state.engine = `hls.js ${Hls.version}`;
  const hls = new Hls({ capLevelToPlayerSize: false, startLevel: -1 });
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
    state.levels = data.levels.map((l) => ({ height: l.height, bitrate: l.bitrate, codecs: l.videoCodec }));
    video.play().catch((err) => state.errors.push(`play(): ${err.message}`));
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => { state.level = data.level; show(); });
  hls.on(Hls.Events.FRAG_LOADED, () => { state.fragments += 1; show(); });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    state.errors.push(`${data.type}: ${data.details}${data.fatal ? " (fatal)" : ""}`);
    show();
  });
  hls.loadSource(src);
  hls.attachMedia(video);
} else if (video.canPlayType("application/vnd.apple.mpegurl")) {
  state.engine = "native HLS";
  video.src = src;
} else {
  state.errors.push("this browser plays neither MSE nor HLS");
}
video.addEventListener("timeupdate", show);
video.addEventListener("ended", () => { state.ended = true; show(); });
show();
