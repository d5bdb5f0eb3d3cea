// The OBS browser source page: a transparent canvas, configured by URL parameters, no controls.
//
// ?channel=main  &token=  &scale=1  &audio=1  &audio_offset_ms=0  &width=  &height=
// audio_offset_ms: how much later the sound is heard than this page plays it (OBS's delay with
// "Control audio via OBS", often ~1000); positive delays the frames by that much so they match.

import { createLive, numberParam } from './live.js';

const params = new URLSearchParams(location.search);
const canvas = document.getElementById('character');
const scale = numberParam(params, 'scale', 1, { min: 0.05, max: 8 });
const boxW = numberParam(params, 'width', null, { min: 1, max: 16384 });
const boxH = numberParam(params, 'height', null, { min: 1, max: 16384 });

function layout(player) {
  if (!player.frameSize) return;
  const [w, h] = player.frameSize;
  // An explicit width/height is the OBS source size: fit the character inside it, bottom-centred.
  let s = scale;
  if (boxW || boxH) s = Math.min(boxW ? boxW / w : Infinity, boxH ? boxH / h : Infinity);
  canvas.style.width = `${Math.round(w * s)}px`;
  canvas.style.height = `${Math.round(h * s)}px`;
  if (boxW || boxH) {
    document.body.style.width = boxW ? `${boxW}px` : '';
    document.body.style.height = boxH ? `${boxH}px` : '';
    canvas.style.margin = '0 auto';
    canvas.style.position = 'absolute';
    canvas.style.left = boxW ? `${Math.round((boxW - w * s) / 2)}px` : '0';
    canvas.style.top = boxH ? `${Math.round(boxH - h * s)}px` : '0';
  }
}

const session = createLive({
  canvas,
  channel: params.get('channel') || 'main',
  role: 'viewer',
  audio: {
    enabled: params.get('audio') !== '0',
    // Bounded by what the player keeps: ~5 s of past frames, and the server's 1.5 s lookahead ahead.
    offsetMs: numberParam(params, 'audio_offset_ms', 0, { min: -1000, max: 4000 }),
  },
  onChange(what) {
    if (what === 'size') layout(session.player);
  },
});
window.__streamer = session.player.debug;
session.start();

function resyncIf(visible) {
  if (visible) session.resync();
}

// OBS fires these when the source is shown again (scene switch, visibility toggle); the first one is not
// always fired on load, so they only trigger a resync and never gate playback.
window.addEventListener('obsSourceActiveChanged', (e) => resyncIf(e.detail?.active));
window.addEventListener('obsSourceVisibleChanged', (e) => resyncIf(e.detail?.visible));
document.addEventListener('visibilitychange', () => resyncIf(document.visibilityState === 'visible'));
