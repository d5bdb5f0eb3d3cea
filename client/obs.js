// The OBS browser source page: a transparent canvas, configured by URL parameters, no controls.
//
// ?channel=main  &scale=1  &audio=1  &audio_offset_ms=0  &width=  &height=  &label=1
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

const channel = params.get('channel') || 'main';

const session = createLive({
  canvas,
  channel,
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
if (params.get('label') !== '0') showLabelUntilDriven();
session.start();

// A channel nobody has played to yet shows its name, so a misspelt ?channel= is visible in OBS
// instead of an empty source; the first program or state change (or ?label=0) removes it.
function showLabelUntilDriven() {
  const label = document.getElementById('channel-label');
  label.textContent = `channel ${channel} · waiting for a program`;
  let driven = false;
  const hide = () => {
    driven = true;
    label.hidden = true;
  };
  session.conn.on('program_start', hide);
  session.conn.on('state', hide);
  // Servers that make viewers of a channel not created yet wait (a `waiting` message) show it at once.
  session.conn.on('waiting', () => {
    if (!driven) label.hidden = false;
  });
  session.conn.on('hello', async (m) => {
    if (driven || m.program) return hide();
    try {
      const res = await fetch(`/channels/${encodeURIComponent(channel)}`, { cache: 'no-store' });
      const described = res.ok ? await res.json() : null;
      if (!driven && described && described.commands === 0) label.hidden = false;
    } catch (err) {
      console.warn('streamer: cannot describe the channel:', err.message);
    }
  });
}

function resyncIf(visible) {
  if (visible) session.resync();
}

// OBS fires these when the source is shown again (scene switch, visibility toggle); the first one is not
// always fired on load, so they only trigger a resync and never gate playback.
window.addEventListener('obsSourceActiveChanged', (e) => resyncIf(e.detail?.active));
window.addEventListener('obsSourceVisibleChanged', (e) => resyncIf(e.detail?.visible));
document.addEventListener('visibilitychange', () => resyncIf(document.visibilityState === 'visible'));
