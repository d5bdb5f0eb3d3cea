// The preview page's wiring: the live canvas plus program, expression and pose controls, status and toasts.

import { CloseCode, expressionNames, play, poseNames, react, say, set, stop, watchExport } from './protocol.js';
import { createLive, numberParam } from './live.js';
import { toast } from './toast.js';

const TOKEN_KEY = 'streamer.token';
const $ = (id) => document.getElementById(id);

const params = new URLSearchParams(location.search);
const channel = params.get('channel') || 'main';
// A token may come in the URL once (#token=, which no server sees, or ?token=): it is kept in this
// browser and taken out of the address bar, so it does not end up in history, screenshots or logs.
const hashToken = new URLSearchParams(location.hash.slice(1)).get('token');
let token = hashToken ?? params.get('token') ?? localStorage.getItem(TOKEN_KEY) ?? '';
if (hashToken !== null || params.has('token')) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  params.delete('token');
  const query = params.toString();
  history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}`);
}
let canControl = true; // false once the server refused our token: we then watch as a viewer
let saying = false; // a line sent to the channel and not yet accepted

// ------------------------------------------------------------------ session

const session = createLive({
  canvas: $('character'),
  channel,
  role: 'controller',
  token,
  audio: {
    enabled: params.get('audio') !== '0',
    offsetMs: numberParam(params, 'audio_offset_ms', 0, { min: -1000, max: 4000 }),
  },
  onChange(what) {
    if (what === 'hello' || what === 'rig') renderRig();
    if (what === 'hello' || what === 'state') renderState();
    if (what === 'hello' || what === 'program') renderProgram();
    if (what === 'audio' || what === 'blocked' || what === 'playing' || what === 'idle') renderAudioGate();
    if (what === 'status') renderConnection();
  },
});
const { conn, player, clock } = session;
window.__streamer = player.debug;

conn.on('error', (m) => toast(m.message, { kind: 'error', code: m.code }));
conn.on('protocol_error', (err) => toast(err.message, { kind: 'error', code: 'protocol' }));
conn.on('ack', () => {}); // acks for our requests resolve their promises; stray ones need no action
function watchOnly(code) {
  // Still show the character: drop to viewer and let the user type the right token.
  canControl = false;
  toast('The server needs a control token to send commands. Watching only; enter it under Control & OBS.', {
    kind: 'error',
    code,
    ms: 8000,
  });
  $('settings').open = true;
  conn.reconfigure({ role: 'viewer', token: '' });
  renderControls();
}

async function probeRefusedController() {
  // A server may refuse a bad token during the handshake (HTTP 403) rather than closing with 4001, and the
  // browser then only reports 1006. If plain HTTP works, the server is up and refused the controller role.
  try {
    const res = await fetch('/health', { cache: 'no-store' });
    if (res.ok && conn.params.role === 'controller' && conn.status !== 'connected') watchOnly('refused');
  } catch {
    // The server is down: keep reconnecting as we are.
  }
}

conn.on('close', (c) => {
  if (c.code === CloseCode.BAD_TOKEN) {
    watchOnly('4001');
  } else if (!c.opened && conn.params.role === 'controller' && conn.stats.handshakeFailures >= 2) {
    probeRefusedController();
  } else if (c.fatal) {
    toast(c.description, { kind: 'error', code: String(c.code), ms: 10000 });
  } else if (c.opened && c.code !== CloseCode.NORMAL) {
    toast(`${c.description}; reconnecting…`, { kind: 'info', code: String(c.code) });
  }
});

async function command(build, label) {
  try {
    return await conn.request(build);
  } catch (err) {
    toast(`${label}: ${err.message}`, { kind: 'error', code: err.code });
    return null;
  }
}

// ------------------------------------------------------------------ program controls

// The list is newest first (the server's order) and refreshes itself, so a line said from
// another tab, `streamer play` or a bot shows up without a reload.
const TIMELINES_EVERY_MS = 5000;
let timelines = [];
let timelinesShown = null; // what the select shows, to leave it alone when nothing changed
let timelinesFailing = false;

async function loadTimelines({ select: chosen = null } = {}) {
  const select = $('timeline');
  try {
    const res = await fetch('/timelines', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = await res.json();
    timelines = Array.isArray(body) ? body : body.timelines ?? [];
    timelinesFailing = false;
  } catch (err) {
    if (!timelinesFailing) toast(`Could not list timelines: ${err.message}`, { kind: 'error' });
    timelinesFailing = true;
    if (timelinesShown === null) select.innerHTML = '<option value="">Timelines unavailable</option>';
    return;
  }
  const shown = JSON.stringify(timelines.map((t) => [t.id, t.name, t.duration_ms]));
  const keep = chosen ?? (timelinesShown === null ? params.get('timeline') : select.value);
  if (shown !== timelinesShown) {
    timelinesShown = shown;
    select.innerHTML = '';
    if (!timelines.length) select.innerHTML = '<option value="">No timelines yet</option>';
    for (const t of timelines) {
      const opt = document.createElement('option');
      opt.value = t.id;
      opt.title = t.id;
      const secs = t.duration_ms != null ? ` · ${(t.duration_ms / 1000).toFixed(1)} s` : '';
      opt.textContent = `${t.name || t.id}${secs}`;
      select.append(opt);
    }
  }
  if (keep && timelines.some((t) => t.id === keep)) select.value = keep;
  renderControls();
}

setInterval(() => {
  if (document.visibilityState === 'visible') loadTimelines();
}, TIMELINES_EVERY_MS);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') loadTimelines();
});

$('play').addEventListener('click', async () => {
  const id = $('timeline').value;
  if (!id) return;
  // The click is a user gesture: it also lets this page play the program's audio with sound.
  player.audio.needsGesture = false;
  if (player.audio.el) player.audio.el.muted = false;
  const result = await command((rid) => play(rid, { timelineId: id }), 'Play');
  const name = timelines.find((t) => t.id === id)?.name ?? id;
  if (result) toast(`Playing ${name}`, { kind: 'ok', ms: 2000 });
});

$('stop').addEventListener('click', () => command((rid) => stop(rid), 'Stop'));

// ------------------------------------------------------------------ expression and pose

function chip(container, name, onClick) {
  const b = document.createElement('button');
  b.className = 'chip';
  b.dataset.name = name;
  b.textContent = name.replaceAll('_', ' ');
  b.title = name;
  b.addEventListener('click', onClick);
  container.append(b);
}

function renderRig() {
  const rig = player.rig;
  renderRigPicker();
  for (const [id, names, field] of [
    ['exprs', expressionNames(rig), 'expr'],
    ['poses', poseNames(rig), 'pose'],
  ]) {
    const box = $(id);
    const have = [...box.querySelectorAll('.chip')].map((b) => b.dataset.name).join('|');
    if (have === names.join('|')) continue;
    box.innerHTML = names.length ? '' : '<span class="placeholder">None in this rig</span>';
    for (const name of names) {
      chip(box, name, () => command((rid) => set(rid, { [field]: name }), `Set ${field}`));
    }
  }
  renderReactions();
  renderControls();
}

function renderState() {
  const s = player.state;
  for (const b of $('exprs').querySelectorAll('.chip')) b.classList.toggle('active', s && b.dataset.name === s.expr);
  for (const b of $('poses').querySelectorAll('.chip')) b.classList.toggle('active', s && b.dataset.name === s.pose);
  $('s-state').textContent = s ? `${s.expr} · ${s.pose}` : '–';
}

function renderControls() {
  const connected = conn.status === 'connected';
  const allowed = connected && canControl;
  $('rig').disabled = !allowed || switchingRig;
  $('play').disabled = !allowed || !$('timeline').value;
  $('stop').disabled = !allowed;
  $('say').disabled = !allowed || saying;
  for (const b of document.querySelectorAll('.chip')) b.disabled = !allowed;
}

// ------------------------------------------------------------------ character (rig)

// GET /rigs lists the rigs this server offers (STREAMER_RIGS_DIR); the picker shows only when there
// are several. Choosing one switches the channel for every viewer (a `set` with `rig`); the server's
// `rig` message then brings the new expressions and poses, and the chips follow.
let rigs = [];
let switchingRig = false;

async function loadRigs() {
  rigs = (await listFrom('/rigs', 'rigs'))?.rigs ?? [];
  fillSelect($('rig'), rigs, (r) => [r.id, r.id === r.name ? r.id : `${r.name} · ${r.id}`, rigSummary(r)]);
  $('rig-card').hidden = rigs.length < 2;
  renderRigPicker();
}

// GET /exports/formats lists the export formats (the server's one table of them): the menu is built from it.
async function loadExportFormats() {
  const formats = (await listFrom('/exports/formats', 'export formats')) ?? [];
  fillSelect($('export-format'), formats, (f) => [f.name, f.label, f.description]);
}

/** GET ``url`` as JSON, or null (with a console warning naming ``what``) when it fails. */
async function listFrom(url, what) {
  try {
    const res = await fetch(url, { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return await res.json();
  } catch (err) {
    console.warn(`streamer: cannot list ${what}:`, err.message);
    return null;
  }
}

/** Replace ``select``'s options with one per item; ``option(item)`` gives [value, text, title]. */
function fillSelect(select, items, option) {
  select.replaceChildren(
    ...items.map((item) => {
      const [value, text, title] = option(item);
      return Object.assign(new Option(text, value), { title });
    }),
  );
}

function rigSummary(r) {
  const size = r.size ? `${r.size[0]}×${r.size[1]} · ` : '';
  return `${size}${r.expressions.length} expressions · ${r.poses.length} poses`;
}

function renderRigPicker() {
  const current = rigs.find((r) => r.id === player.rig?.id);
  if (current) $('rig').value = current.id;
  $('rig-hint').textContent = current ? rigSummary(current) : '';
}

$('rig').addEventListener('change', async () => {
  const id = $('rig').value;
  if (!id || id === player.rig?.id) return;
  switchingRig = true;
  renderControls();
  const result = await command((rid) => set(rid, { rig: id }), 'Character');
  switchingRig = false;
  if (result) toast(`Now playing ${rigs.find((r) => r.id === id)?.name ?? id}`, { kind: 'ok', ms: 2000 });
  renderRigPicker(); // back to what the channel plays if the switch failed
  renderControls();
});

// ------------------------------------------------------------------ say

// The line is said live on the channel: the server cuts it into segments and speaks each as the
// one before it plays, so a long paragraph starts at once. Stop interrupts it.

$('say-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('say-text').value.trim();
  if (!text || saying) return;
  // The click is a user gesture: it also lets this page play the line's audio with sound.
  player.audio.needsGesture = false;
  if (player.audio.el) player.audio.el.muted = false;
  player.speech.unlock();
  saying = true;
  renderControls();
  try {
    const result = await command((rid) => say(rid, { text }), 'Say');
    if (result) $('say-text').select();
  } finally {
    saying = false;
    renderControls();
  }
});

// ------------------------------------------------------------------ react

// Reactions layer over whatever plays (the voice goes on). "Happy" holds the rig's first happy
// expression; a rig without one hides the button.
const happyExpression = () => expressionNames(player.rig).find((n) => n.startsWith('happy')) ?? null;

for (const b of $('reactions').querySelectorAll('.chip')) {
  b.addEventListener('click', () => {
    const options = { reaction: b.dataset.reaction };
    if (options.reaction === 'expression') options.expr = happyExpression();
    if (b.dataset.duration) options.duration_ms = Number(b.dataset.duration);
    command((rid) => react(rid, options), 'React');
  });
}

function renderReactions() {
  const happy = $('reactions').querySelector('[data-reaction="expression"]');
  happy.hidden = !happyExpression();
  happy.title = happyExpression() ?? '';
}

// ------------------------------------------------------------------ status

const STATUS_LABELS = {
  idle: 'Idle',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  waiting: 'Waiting: nothing has been played on this channel yet',
  failed: 'Disconnected',
  closed: 'Closed',
};

function renderConnection() {
  const pill = $('conn');
  pill.dataset.status = conn.status;
  let label = STATUS_LABELS[conn.status] ?? conn.status;
  if (conn.status === 'connected' && !canControl) label = 'Connected · view only';
  pill.querySelector('.label').textContent = label;
  renderControls();
}

function renderProgram() {
  const p = player.program;
  const label = $('np-label');
  if (!p) {
    label.textContent = 'Idle';
    $('np-time').textContent = '';
    $('np-bar').style.width = '0';
    return;
  }
  label.innerHTML = '';
  const spoken = p.stream != null;
  label.append(document.createTextNode(spoken ? 'Saying' : p.timeline_id || 'inline timeline'));
  const muted = document.createElement('span');
  muted.className = 'muted';
  if (spoken) muted.textContent = `  · ${p.segments} segment${p.segments === 1 ? '' : 's'} so far`;
  else muted.textContent = p.audio ? '  · with audio' : '';
  label.append(muted);
}

function renderProgress() {
  const p = player.program;
  if (!p) return;
  const now = player.now();
  const duration = p.duration_ms ?? p.end_ms - p.start_ms;
  if (now === null || !duration) return;
  const t = Math.min(Math.max(now - p.start_ms, 0), duration);
  $('np-bar').style.width = `${(100 * t) / duration}%`;
  $('np-time').textContent = `${fmtTime(t)} / ${fmtTime(duration)}`;
}

function fmtTime(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}.${Math.floor((ms % 1000) / 100)}`;
}

function renderAudioGate() {
  const a = player.audio;
  const speechHeld = player.speech.ctx && player.speech.ctx.state === 'suspended';
  $('enable-audio').hidden = !((a.cue && (a.needsGesture || a.state === 'blocked')) || speechHeld);
}

$('enable-audio').addEventListener('click', () => {
  player.audio.unlock();
  player.speech.unlock();
  renderAudioGate();
});

function fmtMs(v, { sign = false } = {}) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  const r = Math.round(v);
  return `${sign && r > 0 ? '+' : ''}${r.toLocaleString()} ms`;
}

function setStat(id, text, level = '', detail = '') {
  const dd = $(id);
  dd.textContent = text;
  dd.className = level;
  dd.title = detail;
}

// What the user can act on is how well this page knows the server clock: the error of the
// estimate is at most half the best round trip. The raw offset (server time minus page time)
// grows with the server's uptime, so it only goes in the tooltip.
const SYNC_GOOD_MS = 21; // half a frame at 24 fps
const SYNC_FAIR_MS = 60;

function renderClock() {
  if (!clock.synced) {
    setStat('s-clock', clock.offsetMs === null ? '–' : 'estimating…');
    return;
  }
  const bound = clock.rttMs / 2;
  const quality = bound <= SYNC_GOOD_MS ? 'good' : bound <= SYNC_FAIR_MS ? 'fair' : 'poor';
  const level = { good: 'good', fair: 'warn', poor: 'bad' }[quality];
  const detail =
    `Within ±${fmtMs(bound)} of the server clock (half the best round trip of the last ` +
    `${(clock.samples ?? []).length} pings).\nRaw offset: ${fmtMs(clock.offsetMs)} (server time minus this page's ` +
    'clock; it grows with the server\'s uptime, which is normal).';
  setStat('s-clock', `${quality} · ±${fmtMs(bound)}`, level, detail);
}

function renderStats() {
  const s = player.stats;
  const conns = conn.stats.connects;
  setStat('s-conn', `${STATUS_LABELS[conn.status] ?? conn.status}${conns > 1 ? ` · ${conns - 1} reconnect${conns > 2 ? 's' : ''}` : ''}`,
    conn.status === 'connected' ? 'good' : conn.status === 'failed' ? 'bad' : 'warn');
  renderClock();
  const rtt = clock.rttMs;
  const rttLevel = rtt === null ? '' : rtt < 60 ? 'good' : rtt < 200 ? 'warn' : 'bad';
  setStat('s-rtt', fmtMs(rtt), rttLevel, rtt === null ? '' : 'Best round trip to the server of the last pings');
  if (s.master === 'audio') {
    const lag = s.frameLagMs;
    setStat('s-sync', lag === 0 ? 'in sync' : `frame ${fmtMs(lag)} late`, lag < 42 ? 'good' : lag < 125 ? 'warn' : 'bad');
  } else {
    setStat('s-sync', s.frameLagMs > 0 ? `frame ${fmtMs(s.frameLagMs)} late` : 'no audio', s.frameLagMs > 125 ? 'warn' : '');
  }
  const a = player.audio;
  let audio = { idle: 'none', waiting: 'cued', starting: 'starting…', playing: 'playing', blocked: 'blocked', ended: 'ended', error: 'error' }[a.state] ?? a.state;
  if (a.state === 'playing' && a.needsGesture) audio = 'muted';
  if (a.state === 'playing' && s.audioDriftMs !== null) audio += ` · ${fmtMs(s.audioDriftMs, { sign: true })} vs clock`;
  setStat('s-audio', audio, a.state === 'blocked' || a.state === 'error' || a.needsGesture ? 'warn' : '');
  setStat('s-queued', `${s.framesQueued}`);
  $('stage-empty').hidden = !!player.debug.frameOnScreen;
}

setInterval(() => {
  renderStats();
  renderProgress();
}, 200);

// ------------------------------------------------------------------ settings

$('channel-name').textContent = channel;
$('token').value = token;
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  canControl = true;
  conn.reconfigure({ role: 'controller', token });
  toast(token ? 'Using the new control token' : 'Control token cleared', { kind: 'ok', ms: 2000 });
});

const obsUrl = new URL('obs.html', location.href);
obsUrl.search = new URLSearchParams({ channel }).toString();
$('obs-url').value = obsUrl.href;
$('obs-copy').addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(obsUrl.href);
    toast('OBS source URL copied', { kind: 'ok', ms: 2000 });
  } catch {
    $('obs-url').select();
  }
});

// ------------------------------------------------------------------ export

// One export at a time from this page: POST /exports, then follow its progress until it finishes.
let exportJob = null;
const EXPORT_POLL_MS = 400;
const exportActive = () => exportJob && (exportJob.status === 'queued' || exportJob.status === 'running');
const authHeaders = () => (token ? { Authorization: `Bearer ${token}` } : {});

async function exportRequest(method, url, body) {
  const res = await fetch(url, {
    method,
    cache: 'no-store',
    headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...authHeaders() },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = res.status === 204 ? null : await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(json?.error || `HTTP ${res.status}`), { code: String(res.status) });
  return json;
}

function fmtBytes(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} kB`;
}

function renderExport() {
  const job = exportJob;
  $('export').disabled = !$('timeline').value || !$('export-format').value || exportActive();
  $('export-status').hidden = !job;
  if (!job) return;
  const p = job.progress;
  const label = $('export-label');
  const pct = job.status === 'done' ? 100 : p.total ? (100 * p.frames) / p.total : 0;
  $('export-bar').style.width = `${pct}%`;
  label.className = `export-label ${job.status}`;
  label.textContent = {
    queued: 'Queued…',
    running: p.stage === 'encoding' ? `Encoding ${p.frames} / ${p.total} frames` : `${p.stage[0].toUpperCase()}${p.stage.slice(1)}…`,
    done: `Ready · ${job.filename}${job.size_bytes ? ` · ${fmtBytes(job.size_bytes)}` : ''}`,
    failed: `Failed: ${job.error}`,
    cancelled: 'Cancelled',
  }[job.status] ?? job.status;
  label.title = label.textContent;
  $('export-eta').textContent = job.status === 'running' && p.eta_s != null ? `~${Math.ceil(p.eta_s)} s left` : '';
  const link = $('export-link');
  link.hidden = job.status !== 'done';
  if (job.status === 'done') {
    link.href = job.file;
    link.download = job.filename;
  }
  $('export-cancel').hidden = !exportActive();
}

function exportUpdate(job) {
  if (exportJob?.id !== job.id) return;
  const wasActive = exportActive();
  exportJob = job;
  renderExport();
  if (!wasActive || exportActive()) return;
  if (job.status === 'done') toast(`Export ready: ${job.filename}`, { kind: 'ok', ms: 3000 });
  if (job.status === 'failed') toast(`Export failed: ${job.error}`, { kind: 'error' });
}

// Follow a job: pushed over the socket while we control the channel (watch_export), else polled over HTTP.
let exportFollow = null; // {id, how: 'socket' | 'poll'}

async function followExport(id) {
  if (canControl && conn.status === 'connected') {
    exportFollow = { id, how: 'socket' };
    try {
      exportUpdate((await conn.request((rid) => watchExport(rid, id))).export);
      return;
    } catch {
      // Not allowed or not connected after all: poll.
    }
  }
  exportFollow = { id, how: 'poll' };
  while (exportJob?.id === id && exportActive()) {
    await new Promise((resolve) => setTimeout(resolve, EXPORT_POLL_MS));
    try {
      exportUpdate(await exportRequest('GET', `/exports/${id}`));
    } catch (err) {
      toast(`Export: ${err.message}`, { kind: 'error', code: err.code });
      return;
    }
  }
}

conn.on('export', (m) => exportUpdate(m.export));
conn.on('close', () => {
  // The pushes stop with the socket: poll until the job ends.
  if (exportActive() && exportFollow?.id === exportJob.id && exportFollow.how === 'socket') followExport(exportJob.id);
});

$('export').addEventListener('click', async () => {
  const id = $('timeline').value;
  if (!id || exportActive()) return;
  $('export').disabled = true;
  try {
    const options = { format: $('export-format').value };
    exportJob = await exportRequest('POST', '/exports', { timeline_id: id, options, ...rigField() });
    renderExport();
    followExport(exportJob.id);
  } catch (err) {
    toast(`Export: ${err.message}`, { kind: 'error', code: err.code });
    renderExport();
  }
});

$('export-cancel').addEventListener('click', async () => {
  if (!exportActive()) return;
  try {
    exportJob = await exportRequest('DELETE', `/exports/${exportJob.id}`);
  } catch (err) {
    toast(`Cancel: ${err.message}`, { kind: 'error', code: err.code });
  }
  renderExport();
});

$('timeline').addEventListener('change', renderExport);
$('timeline').addEventListener('change', renderControls);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') session.resync();
});

/** The channel's rig for requests that make or render a timeline (nothing for the default rig). */
function rigField() {
  const id = player.rig?.id;
  return id && id !== 'default' ? { rig: id } : {};
}

session.start();
renderConnection();
loadRigs();
loadExportFormats().then(renderExport);
loadTimelines().then(renderExport);
