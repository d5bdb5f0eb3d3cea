// The Director page's wiring: start a timeline, edit it on the time axis, play it, save and export it.

import { Api, saveToken, takeToken } from './director-api.js';
import {
  History,
  TRACK,
  TRACKS,
  contentEnd,
  copyItems,
  deleteItems,
  itemOfError,
  keyOf,
  newItem,
  normalize,
  parseKey,
  pasteItems,
  selectionRange,
  serialize,
  visemeNames,
} from './director-model.js';
import { TimelineView, fmtTime } from './director-view.js';
import { Connection } from './connection.js';
import { Player } from './player.js';
import { watchExport } from './protocol.js';
import { toast } from './toast.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const api = new Api(takeToken());
const SCHEDULE_DEBOUNCE_MS = 150;
const EXPORT_POLL_MS = 400;
const PEAK_BUCKET_MS = 5;

const fail = (what) => (err) => toast(`${what}: ${err.message}`, { kind: 'error', code: err.code });

// ------------------------------------------------------------------ state

const undoHistory = new History();
let clipboard = [];
let scheduleSeq = 0;
let appliedSeq = 0; // the newest draft whose schedule is shown
let scheduleTimer = null;
let fitOnResolve = false; // fit the axis to the timeline once its duration is known

const app = {
  id: null,
  etag: null,
  savedJson: null,
  savedName: '',
  doc: null,
  rig: null,
  fps: 24,
  selection: new Set(),
  changes: [], // the resolved schedule: [t_ms, frame key]
  idleBlinks: [],
  durationMs: 0,
  audioEndMs: 0,
  audioOffsetMs: 0,
  playheadMs: 0,
  invalid: null, // {key, message} of the item the server refused

  beginEdit() {
    undoHistory.push(app.doc);
  },
  edited() {
    view.render();
    changed();
  },
  dragged() {
    renderInspector();
  },
  zoomed() {
    fitOnResolve = false; // the user chose a zoom: keep it
  },
  select(keys) {
    app.selection = new Set(keys);
    view.markSelection();
    renderInspector();
  },
  seek(t) {
    seekTo(t);
  },
  add(track, t) {
    addItem(track, t);
  },
};

const view = new TimelineView($('tl'), app);

// The player draws the frame "now" on a clock we drive: the playhead while paused, and while
// playing the audio's position (the player's rule: frames follow the audio clock when it plays).
const clock = {
  offsetMs: 0,
  rttMs: 0,
  base: 0,
  since: null,
  serverNow() {
    return this.since === null ? this.base : this.base + (performance.now() - this.since);
  },
};
const player = new Player({ canvas: $('character'), clock, cacheSize: 64, onChange: (what) => what === 'audio' && audioMoved() });
player.start();
let playing = false;
let programSeq = 0;
window.__director = {
  app,
  player,
  view,
  frameOnScreen: () => player.debug.frameOnScreen,
  seek: (t) => seekTo(t),
  get playing() {
    return playing;
  },
  get dirty() {
    return isDirty();
  },
};

// ------------------------------------------------------------------ loading

async function loadRig() {
  app.rig = await api.get('/rig');
  if (app.rig.size) player.setFrameSize(app.rig.size);
}

async function loadVoices() {
  try {
    const voices = await api.get('/speech/voices');
    $('voices').replaceChildren(...voices.map((v) => new Option(`${v.name} (${v.languages.join(', ')})`, v.voice)));
  } catch {
    // The default voice still works.
  }
}

async function loadExportFormats() {
  try {
    const formats = await api.get('/exports/formats');
    $('ex-format').replaceChildren(...formats.map((f) => Object.assign(new Option(f.label, f.name), { title: f.description })));
  } catch {
    // The export fails with a readable error instead.
  }
}

async function loadList(selected = null) {
  const list = await api.get('/timelines');
  const select = $('open-list');
  select.replaceChildren(
    ...list.map((t) => {
      const opt = new Option(`${t.name}${t.duration_ms ? ` · ${fmtTime(t.duration_ms, false)}` : ''}`, t.id);
      opt.title = t.id;
      return opt;
    }),
  );
  if (selected) select.value = selected;
  return list;
}

/** Open a stored timeline for editing (its ETag guards the next save). */
async function openTimeline(id) {
  const { json, res } = await api.call('GET', `/timelines/${encodeURIComponent(id)}`);
  const list = await loadList(id);
  const doc = normalize(json);
  pause();
  app.id = id;
  app.etag = res.headers.get('ETag');
  app.doc = doc;
  app.savedJson = JSON.stringify(serialize(doc).doc);
  app.savedName = list.find((t) => t.id === id)?.name ?? id;
  $('name').value = app.savedName;
  $('doc-id').textContent = id;
  app.selection = new Set();
  app.invalid = null;
  app.changes = [];
  appliedSeq = scheduleSeq + 1; // answers for the previous document are not this one's
  undoHistory.past = [];
  undoHistory.future = [];
  app.playheadMs = 0;
  const url = new URL(location.href);
  url.searchParams.set('timeline', id);
  history.replaceState(null, '', url);
  $('stage-empty').hidden = true;
  await loadAudio();
  view.render();
  window.__director.tracksAt = performance.now(); // the tracks are drawn (the character follows its schedule)
  changed({ resolveNow: true });
  renderInspector();
  fitOnResolve = true;
}

/** The audio's waveform and where it ends (decoded in the page; the server keeps the file). */
async function loadAudio() {
  app.audioEndMs = 0;
  app.audioBuffer = null;
  app.audioOffsetMs = app.doc.audio?.offset_ms ?? 0;
  view.setPeaks(null);
  const audioId = app.doc.audio?.id;
  if (!audioId) return;
  try {
    const res = await fetch(`/audio/${encodeURIComponent(audioId)}`);
    const ctx = new OfflineAudioContext(1, 1, 8000);
    const buf = await ctx.decodeAudioData(await res.arrayBuffer());
    app.audioEndMs = Math.round(buf.duration * 1000) + app.audioOffsetMs;
    app.audioBuffer = buf;
    view.setPeaks(peaksOf(buf));
  } catch (err) {
    toast(`Audio ${audioId}: could not draw its waveform (${err.message})`, { kind: 'error' });
  }
}

function peaksOf(buf) {
  const data = buf.getChannelData(0);
  const per = Math.max(1, Math.round((buf.sampleRate * PEAK_BUCKET_MS) / 1000));
  const n = Math.ceil(data.length / per);
  const min = new Float32Array(n);
  const max = new Float32Array(n);
  for (let b = 0; b < n; b++) {
    let lo = 0;
    let hi = 0;
    const end = Math.min(data.length, (b + 1) * per);
    for (let i = b * per; i < end; i++) {
      const v = data[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    min[b] = lo;
    max[b] = hi;
  }
  return { bucketMs: (per * 1000) / buf.sampleRate, min, max };
}

// ------------------------------------------------------------------ changes, schedule, validation

function isDirty() {
  if (!app.doc) return false;
  return JSON.stringify(serialize(app.doc).doc) !== app.savedJson || $('name').value.trim() !== app.savedName;
}

function renderDirty() {
  const dirty = isDirty();
  $('dirty').hidden = !dirty;
  document.title = `${dirty ? '● ' : ''}${$('name').value || 'Untitled'} · streamer Director`;
  $('undo').disabled = !undoHistory.past.length;
  $('redo').disabled = !undoHistory.future.length;
  const has = !!app.doc;
  for (const id of ['save', 'save-as', 'export', 'send', 'play', 'replan']) $(id).disabled = !has;
  $('replan').disabled = !has || !app.doc.tracks.words.length;
}

/** After any change: mark dirty, and resolve the draft again (which also validates it). */
function changed({ resolveNow = false } = {}) {
  renderDirty();
  clearTimeout(scheduleTimer);
  scheduleTimer = setTimeout(resolveDraft, resolveNow ? 0 : SCHEDULE_DEBOUNCE_MS);
}

async function resolveDraft() {
  const seq = ++scheduleSeq;
  const { doc, order } = serialize(app.doc);
  try {
    const s = await api.post('/timelines/schedule', doc);
    // An answer overtaken by a newer edit still shows more than nothing (until the newer one is in).
    if (seq < appliedSeq) return;
    appliedSeq = seq;
    applySchedule(s);
    if (seq === scheduleSeq) showInvalid(null);
  } catch (err) {
    if (seq !== scheduleSeq) return;
    if (err.status === 422 || err.status === 400) showInvalid(err.message, order);
    else fail('Schedule')(err);
  }
}

function applySchedule(s) {
  app.changes = s.changes;
  const explicit = new Set(app.doc.tracks.blink.map((b) => b.t_ms));
  const idle = s.blinks.filter(([t]) => !explicit.has(t));
  const blinksChanged = JSON.stringify(idle) !== JSON.stringify(app.idleBlinks);
  app.idleBlinks = idle;
  app.durationMs = s.timeline_duration_ms;
  if (blinksChanged) view.render();
  view.layout();
  if (fitOnResolve) {
    window.__director.resolvedAt = performance.now(); // the first schedule of this timeline is in
    view.fit();
  }
  fitOnResolve = false;
  loadQueue();
  renderTime();
}

/** Show a validation error on the item it names (and in the bar above the tracks). */
function showInvalid(message, order = null) {
  const at = message && order ? itemOfError(message, order) : null;
  app.invalid = message ? { key: at ? keyOf(at.track, at.index) : null, message } : null;
  view.markInvalid(app.invalid?.key ?? null, message);
  if (app.invalid?.key) view.reveal(app.invalid.key);
  $('invalid').hidden = !message;
  $('invalid').textContent = message ? `Not valid: ${message}${at ? ' (marked in red on the track)' : ''}` : '';
}

// ------------------------------------------------------------------ playback

function loadQueue() {
  // The player prunes frames behind "now" while playing: give it the whole schedule again on each seek.
  player.queue.clear();
  player.queue.replaceFrom(-1, app.changes.map(([t, key]) => [t, `/frames/${key}`]));
  player.lastNow = null;
}

function currentMs() {
  return playing ? (player.lastNow ?? clock.serverNow()) : app.playheadMs;
}

function startAudio() {
  const audioId = app.doc.audio?.id;
  if (!audioId) return;
  player.audio.play({
    program_id: `director-${++programSeq}`,
    url: `/audio/${encodeURIComponent(audioId)}`,
    start_ms: app.audioOffsetMs,
    duration_ms: app.audioEndMs ? app.audioEndMs - app.audioOffsetMs : null,
  });
}

function play() {
  if (!app.doc || playing) return;
  if (app.playheadMs >= endMs() - 10) app.playheadMs = 0;
  const loop = loopRange();
  if (loop && (app.playheadMs < loop[0] || app.playheadMs >= loop[1])) app.playheadMs = loop[0];
  playing = true;
  run(app.playheadMs);
  renderPlay();
}

const AUDIO_START_WAIT_MS = 1500;
let clockWait = null;

/**
 * Play from `t`. Where the audio plays, the clock waits at `t` until the audio element has
 * started (its start takes a moment), so the picture neither runs ahead of the sound nor jumps
 * back when the audio takes over; elsewhere it starts at once.
 */
function run(t) {
  clock.base = t;
  clock.since = null;
  clearTimeout(clockWait);
  loadQueue();
  player.audio.stop();
  const audible = app.doc.audio?.id && t >= app.audioOffsetMs && (!app.audioEndMs || t < app.audioEndMs - 50);
  if (app.doc.audio?.id) startAudio();
  if (!audible) startClock(t);
  else clockWait = setTimeout(() => startClock(clock.base), AUDIO_START_WAIT_MS); // refused or failed: go without
}

function startClock(t) {
  if (!playing || clock.since !== null) return;
  clearTimeout(clockWait);
  clock.base = t;
  clock.since = performance.now();
}

function audioMoved() {
  const heard = player.audio.masterNow();
  if (playing && clock.since === null && heard !== null) startClock(heard);
}

function pause() {
  if (!playing) return;
  app.playheadMs = Math.round(currentMs());
  playing = false;
  clearTimeout(clockWait);
  clock.base = app.playheadMs;
  clock.since = null;
  player.audio.stop();
  loadQueue();
  renderPlay();
  view.placePlayhead();
  renderTime();
}

function seekTo(t) {
  t = Math.max(0, Math.min(Math.round(t), endMs()));
  app.playheadMs = t;
  if (playing) run(t);
  else {
    clock.base = t;
    loadQueue();
  }
  view.placePlayhead();
  renderTime();
}

const endMs = () => Math.max(app.durationMs, app.audioEndMs, app.doc ? contentEnd(app.doc) : 0);

function renderPlay() {
  $('play').textContent = playing ? '❚❚ Pause' : '▶ Play';
}

function renderTime() {
  $('time').textContent = `${fmtTime(currentMs())} / ${fmtTime(endMs())}`;
}

/** The stretch to repeat while playing, when "Loop selection" is on and items are selected. */
const loopRange = () => ($('loop').checked && app.doc ? selectionRange(app.doc, app.selection) : null);

function tick() {
  if (playing) {
    const t = currentMs();
    const loop = loopRange();
    if (loop && (t >= loop[1] || t < loop[0] - 50)) {
      seekTo(loop[0]);
    } else if (t >= endMs()) {
      pause();
      seekTo(endMs());
    } else {
      app.playheadMs = t;
      view.placePlayhead();
      view.follow();
      renderTime();
    }
  }
  requestAnimationFrame(tick);
}
requestAnimationFrame(tick);

// ------------------------------------------------------------------ editing

function edit(fn) {
  if (!app.doc) return;
  app.beginEdit();
  fn();
  app.edited();
}

function addItem(track, t) {
  edit(() => {
    const items = app.doc.tracks[track];
    items.push(newItem(track, t ?? app.playheadMs, app.rig));
    app.selection = new Set([keyOf(track, items.length - 1)]);
  });
  renderInspector();
}

function deleteSelection() {
  if (!app.selection.size) return;
  const keys = [...app.selection];
  edit(() => {
    deleteItems(app.doc, keys);
    app.selection = new Set();
  });
  renderInspector();
}

function nudge(dt) {
  const keys = [...app.selection];
  edit(() => {
    for (const k of keys) {
      const { track, index } = parseKey(k);
      const it = app.doc.tracks[track][index];
      const d = Math.max(dt, -it.t_ms);
      it.t_ms += d;
      if (it.end_ms !== undefined) it.end_ms += d;
    }
  });
  renderInspector();
}

function restore(doc) {
  if (!doc) return;
  app.doc = doc;
  // Keep the selection where its items still exist.
  app.selection = new Set([...app.selection].filter((k) => {
    const { track, index } = parseKey(k);
    return index < app.doc.tracks[track].length;
  }));
  view.render();
  changed();
  renderInspector();
}

const undo = () => restore(undoHistory.undo(app.doc));
const redo = () => restore(undoHistory.redo(app.doc));

function copy() {
  clipboard = copyItems(app.doc, app.selection);
  if (clipboard.length) toast(`Copied ${clipboard.length} item${clipboard.length > 1 ? 's' : ''}`, { ms: 1500 });
}

function paste() {
  if (!clipboard.length) return;
  edit(() => {
    app.selection = new Set(pasteItems(app.doc, clipboard, app.playheadMs));
  });
  renderInspector();
}

function selectAll() {
  const tracks = app.selection.size ? [...new Set([...app.selection].map((k) => parseKey(k).track))] : TRACKS.map((t) => t.key);
  const keys = [];
  for (const track of tracks) app.doc.tracks[track].forEach((_, i) => keys.push(keyOf(track, i)));
  app.select(keys);
}

// ------------------------------------------------------------------ inspector

function field(label, input) {
  const wrap = document.createElement('label');
  wrap.append(document.createTextNode(label), input);
  return wrap;
}

function numberInput(value, onChange, { min = 0, max = 3600000 } = {}) {
  const input = Object.assign(document.createElement('input'), { type: 'number', value: value ?? '', min, max, step: 1 });
  input.addEventListener('change', () => {
    if (input.value === '') return;
    onChange(Math.round(Number(input.value)));
  });
  return input;
}

function selectInput(options, value, onChange) {
  const select = document.createElement('select');
  for (const o of options) select.append(new Option(o, o, false, o === value));
  if (!options.includes(value)) select.append(new Option(`${value} (not in this rig)`, value, false, true));
  select.addEventListener('change', () => onChange(select.value));
  return select;
}

function textInput(value, onChange) {
  const input = Object.assign(document.createElement('input'), { value: value ?? '' });
  input.addEventListener('change', () => onChange(input.value));
  return input;
}

function realignButton() {
  const button = Object.assign(document.createElement('button'), {
    className: 'btn small',
    id: 'realign',
    textContent: 'Re-align',
    title: 'Align this stretch of the recording again with the words as written (edit the text first)',
  });
  button.addEventListener('click', () => busy(button, 'Aligning…', realign).catch(fail('Re-align')));
  return button;
}

function renderInspector() {
  const box = $('inspector');
  const keys = [...app.selection];
  if (!app.doc || !keys.length) {
    box.innerHTML = '<p class="muted">Select an item on the tracks (click; Shift-click adds). Double-click a lane to add one.</p>';
    return;
  }
  if (keys.length > 1) {
    box.replaceChildren(
      Object.assign(document.createElement('p'), { textContent: `${keys.length} items selected: drag, nudge (←/→), copy or delete them.` }),
    );
    const del = Object.assign(document.createElement('button'), { className: 'btn danger small', textContent: 'Delete' });
    del.addEventListener('click', deleteSelection);
    box.append(del);
    if (app.audioBuffer && keys.every((k) => parseKey(k).track === 'words')) box.append(realignButton());
    return;
  }
  const { track, index } = parseKey(keys[0]);
  const it = app.doc.tracks[track][index];
  const set = (name) => (value) => {
    edit(() => {
      if (value === '' || value === null) delete it[name];
      else it[name] = value;
    });
    renderInspector();
  };
  const rig = app.rig;
  const exprs = Object.keys(rig.expressions);
  const visemes = visemeNames(rig);
  const rows = [field('Time (ms)', numberInput(it.t_ms, set('t_ms')))];
  if (TRACK[track].span) rows.push(field('End (ms)', numberInput(it.end_ms, set('end_ms'))));
  if (track === 'emotion') rows.push(field('Expression', selectInput(exprs, it.expr, set('expr'))));
  if (track === 'pose') rows.push(field('Pose', selectInput(rig.poses, it.pose, set('pose'))));
  if (track === 'emotion' || track === 'pose') {
    rows.push(field('Transition (ms)', numberInput(it.transition_ms ?? 0, set('transition_ms'), { max: 10000 })));
  }
  if (track === 'speech') {
    rows.push(field('Viseme', selectInput(visemes, it.viseme, set('viseme'))));
    rows.push(field('Phoneme', textInput(it.phoneme, set('phoneme'))));
  }
  if (track === 'words') rows.push(field('Text', textInput(it.text, set('text'))));
  const buttons = [];
  if (track === 'words' && app.audioBuffer) buttons.push(realignButton());
  if (track === 'blink') rows.push(field('Length (ms)', numberInput(it.duration_ms ?? '', set('duration_ms'), { min: 20, max: 10000 })));
  const head = Object.assign(document.createElement('div'), { className: `insp-head track-${track}` });
  head.textContent = `${TRACK[track].label} · #${index + 1}`;
  const del = Object.assign(document.createElement('button'), { className: 'btn danger small', textContent: 'Delete', title: 'Delete (Delete key)' });
  del.addEventListener('click', deleteSelection);
  const grid = Object.assign(document.createElement('div'), { className: 'grid2' });
  grid.append(...rows);
  box.replaceChildren(head, grid, del, ...buttons);
  if (app.invalid?.key === keys[0]) {
    box.append(Object.assign(document.createElement('p'), { className: 'error-text', textContent: app.invalid.message }));
  }
}

// ------------------------------------------------------------------ start: speech, alignment, open, emotions

async function busy(button, label, fn) {
  const text = button.textContent;
  button.disabled = true;
  button.textContent = label;
  try {
    await fn();
  } finally {
    button.disabled = false;
    button.textContent = text;
  }
}

function guardUnsaved() {
  return !isDirty() || confirm('Discard the unsaved changes to this timeline?');
}

$('tab-script').addEventListener('submit', (e) => {
  e.preventDefault();
  if (!guardUnsaved()) return;
  busy($('speak'), 'Speaking…', async () => {
    const body = {
      text: $('script').value.trim(),
      rate_wpm: Number($('rate').value) || 165,
      pitch: Number($('pitch').value) || 50,
      provider: $('speech-provider').value,
      emotions: $('emotion-provider').value,
    };
    if ($('voice').value.trim()) body.voice = $('voice').value.trim();
    const said = await api.post('/speech', body);
    await openTimeline(said.timeline_id);
    toast(`Speech ready: ${fmtTime(said.duration_ms)}`, { kind: 'ok', ms: 2500 });
  }).catch(fail('Speech'));
});

$('tab-recording').addEventListener('submit', (e) => {
  e.preventDefault();
  if (!guardUnsaved()) return;
  busy($('align'), 'Aligning…', async () => {
    const form = new FormData();
    form.append('audio', $('recording').files[0]);
    const transcript = $('transcript').value.trim();
    if (transcript) form.append('transcript', transcript);
    form.append('provider', $('align-provider').value);
    const { json } = await api.call('POST', '/align', { form });
    await openTimeline(json.timeline_id);
    const warn = json.warnings?.length ? ` (${json.warnings.join('; ')})` : '';
    toast(`Aligned with ${json.provider}${warn}`, { kind: 'ok', ms: 4000 });
  }).catch(fail('Align'));
});

$('tab-open').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = $('open-list').value;
  if (!id || !guardUnsaved()) return;
  openTimeline(id).catch(fail('Open'));
});

for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => {
    for (const t of document.querySelectorAll('.tab')) {
      t.setAttribute('aria-selected', String(t === tab));
      $(`tab-${t.dataset.tab}`).hidden = t !== tab;
    }
    if (tab.dataset.tab === 'open') loadList(app.id).catch(fail('Timelines'));
  });
}

$('replan').addEventListener('click', () =>
  busy($('replan'), 'Planning…', async () => {
    const words = app.doc.tracks.words.map(({ t_ms, end_ms, text }) => ({ t_ms, end_ms, text }));
    const plan = await api.post('/emotions', { words, provider: $('emotion-provider').value });
    edit(() => {
      app.doc.tracks.emotion = plan.emotion;
      app.selection = new Set();
    });
    renderInspector();
    toast(`Emotions planned by ${plan.provider}${plan.fallback ? ` (${plan.fallback})` : ''}`, { kind: 'ok', ms: 3000 });
  }).catch(fail('Emotions')),
);

// ------------------------------------------------------------------ re-align a stretch of words

/** 16-bit mono WAV of the decoded audio between `fromS` and `toS` seconds (for POST /align). */
function wavOf(buf, fromS, toS) {
  const rate = buf.sampleRate;
  const data = buf.getChannelData(0).subarray(Math.max(0, Math.floor(fromS * rate)), Math.floor(toS * rate));
  const out = new DataView(new ArrayBuffer(44 + data.length * 2));
  const text = (at, str) => [...str].forEach((c, i) => out.setUint8(at + i, c.charCodeAt(0)));
  text(0, 'RIFF');
  out.setUint32(4, 36 + data.length * 2, true);
  text(8, 'WAVEfmt ');
  out.setUint32(16, 16, true);
  out.setUint16(20, 1, true); // PCM
  out.setUint16(22, 1, true); // mono
  out.setUint32(24, rate, true);
  out.setUint32(28, rate * 2, true);
  out.setUint16(32, 2, true);
  out.setUint16(34, 16, true);
  text(36, 'data');
  out.setUint32(40, data.length * 2, true);
  for (let i = 0; i < data.length; i++) out.setInt16(44 + i * 2, Math.max(-1, Math.min(1, data[i])) * 0x7fff, true);
  return new Blob([out.buffer], { type: 'audio/wav' });
}

const REALIGN_MARGIN_MS = 250;

/**
 * Align the selected words again with their (edited) text: the stretch of the recording they
 * cover (with a margin up to the neighbouring words) goes to POST /align, and its words and
 * mouth shapes replace those of the stretch. The scratch timeline /align stores is deleted.
 */
async function realign() {
  const picked = [...app.selection].map(parseKey).filter((k) => k.track === 'words');
  if (!picked.length || !app.audioBuffer) return;
  const all = app.doc.tracks.words;
  const chosen = new Set(picked.map((k) => k.index));
  const words = [...chosen].map((i) => all[i]).sort((a, b) => a.t_ms - b.t_ms);
  const start = words[0].t_ms;
  const end = Math.max(...words.map((w) => w.end_ms));
  const others = all.filter((_, i) => !chosen.has(i));
  const prevEnd = Math.max(0, ...others.filter((w) => w.end_ms <= start).map((w) => w.end_ms));
  const nextStart = Math.min(app.audioEndMs, ...others.filter((w) => w.t_ms >= end).map((w) => w.t_ms));
  const a = Math.max(prevEnd, start - REALIGN_MARGIN_MS);
  const b = Math.min(nextStart, end + REALIGN_MARGIN_MS);
  const form = new FormData();
  form.append('audio', wavOf(app.audioBuffer, (a - app.audioOffsetMs) / 1000, (b - app.audioOffsetMs) / 1000), 'stretch.wav');
  form.append('transcript', words.map((w) => w.text).join(' '));
  form.append('provider', $('align-provider').value);
  const { json } = await api.call('POST', '/align', { form });
  api.call('DELETE', `/timelines/${encodeURIComponent(json.timeline_id)}`).catch(() => {});
  const shift = (it) => ({ ...it, t_ms: it.t_ms + a, ...(it.end_ms !== undefined ? { end_ms: it.end_ms + a } : {}) });
  const inside = (it) => it.t_ms + (it.end_ms - it.t_ms) / 2 >= a && it.t_ms + (it.end_ms - it.t_ms) / 2 < b;
  edit(() => {
    app.doc.tracks.words = [...others, ...(json.timeline.tracks.words ?? []).map(shift)];
    app.doc.tracks.speech = [
      ...app.doc.tracks.speech.filter((c) => !inside(c)),
      ...(json.timeline.tracks.speech ?? []).map(shift).filter((c) => c.t_ms >= a && c.end_ms <= b),
    ];
    app.selection = new Set();
  });
  renderInspector();
  const missed = json.unplaced?.length ? ` (not placed: ${json.unplaced.join(' ')})` : '';
  toast(`Re-aligned ${fmtTime(a)}–${fmtTime(b)}${missed}`, { kind: missed ? 'info' : 'ok', ms: 4000 });
}

// ------------------------------------------------------------------ keep: save, save as, conflicts

async function validate(doc, order) {
  try {
    await api.post('/timelines/validate', doc);
    return true;
  } catch (err) {
    if (err.status === 422 || err.status === 400) {
      showInvalid(err.message, order);
      toast('Not saved: fix the item marked in red first', { kind: 'error', code: String(err.status) });
      return false;
    }
    throw err;
  }
}

async function save({ overwrite = false } = {}) {
  if (!app.doc || !app.id) return;
  const { doc, order } = serialize(app.doc);
  if (!(await validate(doc, order))) return;
  const name = $('name').value.trim() || app.id;
  const headers = !overwrite && app.etag ? { 'If-Match': app.etag } : {};
  try {
    const { res } = await api.call('PUT', `/timelines/${encodeURIComponent(app.id)}?name=${encodeURIComponent(name)}`, { body: doc, headers });
    app.etag = res.headers.get('ETag');
    app.savedJson = JSON.stringify(doc);
    app.savedName = name;
    $('name').value = name;
    $('conflict').hidden = true;
    renderDirty();
    toast('Saved', { kind: 'ok', ms: 1500 });
  } catch (err) {
    if (err.status === 412) {
      $('conflict').hidden = false;
      return;
    }
    throw err;
  }
}

async function saveAs() {
  const name = prompt('Save a copy as:', `${$('name').value || app.id} (copy)`);
  if (!name) return;
  const { doc, order } = serialize(app.doc);
  if (!(await validate(doc, order))) return;
  const { json } = await api.call('POST', `/timelines?name=${encodeURIComponent(name.trim())}`, { body: doc });
  await openTimeline(json.id); // the copy is now the one being edited (the original keeps its last save)
  toast(`Saved as ${json.name}`, { kind: 'ok', ms: 2000 });
}

$('save').addEventListener('click', () => save().catch(fail('Save')));
$('save-as').addEventListener('click', () => saveAs().catch(fail('Save as')));
$('conflict-overwrite').addEventListener('click', () => save({ overwrite: true }).catch(fail('Save')));
$('conflict-reload').addEventListener('click', () => {
  $('conflict').hidden = true;
  openTimeline(app.id).catch(fail('Reload'));
});
$('name').addEventListener('input', renderDirty);
window.addEventListener('beforeunload', (e) => {
  if (!isDirty()) return;
  e.preventDefault();
  e.returnValue = '';
});

// ------------------------------------------------------------------ export and send

let exportJob = null;
let conn = null;
const exportActive = () => exportJob && (exportJob.status === 'queued' || exportJob.status === 'running');

/** What to render or play: the stored timeline when it is saved as shown, else the draft itself. */
function source() {
  return isDirty() ? { timeline: serialize(app.doc).doc } : { timeline_id: app.id };
}

function exportOptions() {
  const options = { format: $('ex-format').value, fps: Number($('ex-fps').value), background: $('ex-bg').value };
  const size = $('ex-size').value;
  if (size.includes('x')) options.size = size;
  else if (size) options.scale = Number(size);
  return options;
}

function renderExport() {
  const job = exportJob;
  $('export-status').hidden = !job;
  $('export').disabled = !app.doc || exportActive();
  if (!job) return;
  const p = job.progress ?? {};
  const pct = job.status === 'done' ? 100 : p.total ? (100 * p.frames) / p.total : 0;
  $('export-bar').style.width = `${pct}%`;
  $('export-label').textContent =
    {
      queued: 'Queued…',
      running: p.total ? `Rendering ${p.frames} / ${p.total} frames${p.eta_s != null ? ` · ~${Math.ceil(p.eta_s)} s left` : ''}` : 'Starting…',
      done: `Ready · ${job.filename}`,
      failed: `Failed: ${job.error}`,
      cancelled: 'Cancelled',
    }[job.status] ?? job.status;
  $('export-cancel').hidden = !exportActive();
  const link = $('export-link');
  link.hidden = job.status !== 'done';
  if (job.status === 'done') {
    link.href = job.file;
    link.download = job.filename;
  }
}

function exportUpdate(job) {
  if (exportJob?.id !== job.id) return;
  exportJob = job;
  renderExport();
}

/** The live socket, as a controller of the chosen channel: export progress arrives on it. */
function connection() {
  const channel = $('channel').value.trim() || 'main';
  if (!conn || conn.params.channel !== channel) {
    conn?.close();
    conn = new Connection({ channel, role: 'controller', token: api.token });
    conn.on('export', (m) => exportUpdate(m.export));
    conn.start();
  }
  return conn;
}

async function followExport(id) {
  try {
    const c = connection();
    for (let i = 0; i < 20 && c.status !== 'connected'; i++) await new Promise((r) => setTimeout(r, 100));
    exportUpdate((await c.request((rid) => watchExport(rid, id))).export);
    return;
  } catch {
    // No socket or no control: poll instead.
  }
  while (exportJob?.id === id && exportActive()) {
    await new Promise((r) => setTimeout(r, EXPORT_POLL_MS));
    exportUpdate(await api.get(`/exports/${id}`));
  }
}

$('export').addEventListener('click', async () => {
  if (!app.doc || exportActive()) return;
  try {
    const { json } = await api.call('POST', '/exports', { body: { ...source(), options: exportOptions() } });
    exportJob = json;
    renderExport();
    await followExport(json.id);
  } catch (err) {
    fail('Export')(err);
    renderExport();
  }
});

$('export-cancel').addEventListener('click', async () => {
  if (!exportActive()) return;
  try {
    exportJob = (await api.call('DELETE', `/exports/${exportJob.id}`)).json ?? exportJob;
  } catch (err) {
    fail('Cancel')(err);
  }
  renderExport();
});

$('send').addEventListener('click', async () => {
  const channel = $('channel').value.trim() || 'main';
  try {
    await api.post(`/channels/${encodeURIComponent(channel)}/play`, source());
    toast(`Playing on channel “${channel}” (OBS sources of it show it)`, { kind: 'ok', ms: 3000 });
  } catch (err) {
    fail('Send')(err);
  }
});

// ------------------------------------------------------------------ keyboard and buttons

// Keys go to the field being typed in; a checkbox or button keeps the shortcuts working.
const typing = (e) => e.target.closest('input:not([type=checkbox]):not([type=color]), textarea, select, [contenteditable]');

document.addEventListener('keydown', (e) => {
  const mod = e.ctrlKey || e.metaKey;
  const k = e.key.toLowerCase();
  if (mod && k === 's') {
    e.preventDefault();
    save().catch(fail('Save'));
    return;
  }
  if (typing(e) || !app.doc) {
    if (e.key === '?' && !typing(e)) $('help').showModal();
    return;
  }
  const frame = 1000 / app.fps;
  if (mod && k === 'z') {
    e.preventDefault();
    if (e.shiftKey) redo();
    else undo();
  } else if (mod && k === 'y') {
    e.preventDefault();
    redo();
  } else if (mod && k === 'c') copy();
  else if (mod && k === 'v') paste();
  else if (mod && k === 'a') {
    e.preventDefault();
    selectAll();
  } else if (e.key === ' ') {
    e.preventDefault();
    if (playing) pause();
    else play();
  } else if (k === 'k') pause();
  else if (k === 'l') {
    if (playing) seekTo(currentMs() + 1000);
    else play();
  } else if (k === 'j') seekTo(currentMs() - 1000);
  else if (e.key === 'Home') seekTo(0);
  else if (e.key === 'End') seekTo(endMs());
  else if (e.key === 'Delete' || e.key === 'Backspace') {
    e.preventDefault();
    deleteSelection();
  } else if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
    e.preventDefault();
    const sign = e.key === 'ArrowLeft' ? -1 : 1;
    const step = e.altKey ? 1 : Math.round((e.shiftKey ? 10 : 1) * frame);
    if (app.selection.size) nudge(sign * step);
    else seekTo(app.playheadMs + sign * step);
  } else if (e.key === 'Escape') app.select([]);
  else if (e.key === '?') $('help').showModal();
});

$('play').addEventListener('click', () => (playing ? pause() : play()));
$('undo').addEventListener('click', undo);
$('redo').addEventListener('click', redo);
$('zoom-in').addEventListener('click', () => view.setZoom(view.zoom * 1.5));
$('zoom-out').addEventListener('click', () => view.setZoom(view.zoom / 1.5));
$('zoom-fit').addEventListener('click', () => view.fit());
$('help-open').addEventListener('click', () => $('help').showModal());
$('settings-open').addEventListener('click', () => {
  $('token').value = api.token;
  $('settings').showModal();
});
$('token-form').addEventListener('submit', () => {
  api.token = $('token').value.trim();
  saveToken(api.token);
  conn?.close();
  conn = null;
  toast(api.token ? 'Using the new control token' : 'Control token cleared', { kind: 'ok', ms: 2000 });
});
for (const button of document.querySelectorAll('[data-add]')) {
  button.addEventListener('click', () => addItem(button.dataset.add, app.playheadMs));
}

// ------------------------------------------------------------------ start

async function main() {
  renderDirty();
  renderInspector();
  await loadRig();
  loadVoices();
  loadExportFormats();
  const wanted = params.get('timeline');
  if (wanted) await openTimeline(wanted).catch(fail(`Timeline ${wanted}`));
  else await loadList().catch(fail('Timelines'));
  document.body.dataset.ready = '1';
}

main().catch(fail('Start'));
