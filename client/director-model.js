// The Director's document: a timeline's tracks as editable items, undo history, snapping and the
// mapping from a server validation error back to the item it names. Pure: no DOM, no I/O.

/** The tracks the editor shows, top to bottom (the audio waveform is drawn above them). */
export const TRACKS = [
  { key: 'words', label: 'Words', span: true, text: (it) => it.text, tip: (it) => `“${it.text}”` },
  {
    key: 'speech',
    label: 'Visemes',
    span: true,
    text: (it) => it.viseme.replace(/^speaking_/, ''),
    tip: (it) => `${it.viseme}${it.phoneme ? ` · phoneme ${it.phoneme}` : ''}${it.word ? ` · “${it.word}”` : ''}`,
  },
  {
    key: 'emotion',
    label: 'Emotion',
    span: false,
    text: (it) => it.expr,
    tip: (it) => `${it.expr} · transition ${it.transition_ms ?? 0} ms`,
  },
  {
    key: 'pose',
    label: 'Pose',
    span: false,
    text: (it) => it.pose,
    tip: (it) => `${it.pose} · transition ${it.transition_ms ?? 0} ms`,
  },
  { key: 'blink', label: 'Blinks', span: false, text: () => 'blink', tip: (it) => `blink${it.duration_ms ? ` · ${it.duration_ms} ms` : ''}` },
];
export const TRACK = Object.fromEntries(TRACKS.map((t) => [t.key, t]));

const DEFAULT_TRANSITION_MS = 300;
const MAX_HISTORY = 300;

/** A new item for `track` at `t` (rig: the /rig answer, for sensible names). */
export function newItem(track, t, rig) {
  t = Math.max(0, Math.round(t));
  const exprs = rig ? Object.keys(rig.expressions) : ['neutral'];
  switch (track) {
    case 'emotion':
      return { t_ms: t, expr: exprs.includes('happy_soft') ? 'happy_soft' : exprs[0], transition_ms: DEFAULT_TRANSITION_MS };
    case 'pose':
      return { t_ms: t, pose: rig ? rig.poses[0] : 'center', transition_ms: DEFAULT_TRANSITION_MS };
    case 'speech':
      return { t_ms: t, end_ms: t + 120, viseme: visemeNames(rig)[0] };
    case 'words':
      return { t_ms: t, end_ms: t + 300, text: 'word' };
    case 'blink':
      return { t_ms: t };
    default:
      throw new Error(`unknown track ${track}`);
  }
}

/** The mouth shapes a speech cue may name: the rig's viseme expressions (its phoneme map's values). */
export function visemeNames(rig) {
  const exprs = Object.keys(rig?.expressions ?? { neutral: 1 });
  const shapes = [...new Set(Object.values(rig?.visemes ?? {}))];
  if (!shapes.length) return exprs;
  return exprs.includes('neutral') ? [...shapes, 'neutral'] : shapes; // neutral: a closed mouth (M, P, B)
}

/** Where an item ends on the axis (spans: end_ms; points: the end of their transition or blink). */
export function itemEnd(track, it) {
  if (TRACK[track].span) return it.end_ms;
  if (track === 'blink') return it.t_ms + (it.duration_ms ?? 150);
  return it.t_ms + (it.transition_ms ?? 0);
}

/** A deep copy of a timeline document, with every track present (the editor's working copy). */
export function normalize(doc) {
  const out = JSON.parse(JSON.stringify(doc));
  if (Array.isArray(out) || out.keyframes) {
    throw new Error('this is a face_rig keyframe list: `streamer import` makes a v1 timeline of it, which the Director edits');
  }
  out.tracks = out.tracks ?? {};
  for (const { key } of TRACKS) out.tracks[key] = out.tracks[key] ?? [];
  return out;
}

/**
 * The document to send: tracks in time order (the editor keeps its own order so selections stay
 * put while dragging), empty tracks dropped. `order[track][i]` is the editor index of sorted item i.
 */
export function serialize(doc) {
  const out = { ...doc, tracks: {} };
  const order = {};
  for (const { key } of TRACKS) {
    const items = doc.tracks[key] ?? [];
    const idx = items.map((_, i) => i).sort((a, b) => items[a].t_ms - items[b].t_ms || a - b);
    order[key] = idx;
    if (items.length) out.tracks[key] = idx.map((i) => items[i]);
  }
  return { doc: out, order };
}

/**
 * The item a server error names (`tracks.speech[3]: ...` or `tracks.speech[3].t_ms: ...`), as
 * {track, index} in the editor's order, or null when the error is about something else.
 */
export function itemOfError(message, order) {
  const m = /^tracks\.([a-z]+)\[(\d+)\]/.exec(message ?? '');
  if (!m || !order[m[1]]) return null;
  const index = order[m[1]][Number(m[2])];
  return index === undefined ? null : { track: m[1], index };
}

export const keyOf = (track, index) => `${track}:${index}`;
export function parseKey(key) {
  const [track, index] = key.split(':');
  return { track, index: Number(index) };
}

/** Undo and redo as snapshots of the whole document (cheap enough for 10-minute timelines). */
export class History {
  constructor() {
    this.past = [];
    this.future = [];
  }

  /** Remember `doc` as it is before an edit. */
  push(doc) {
    this.past.push(JSON.stringify(doc));
    if (this.past.length > MAX_HISTORY) this.past.shift();
    this.future = [];
  }

  undo(doc) {
    if (!this.past.length) return null;
    this.future.push(JSON.stringify(doc));
    return JSON.parse(this.past.pop());
  }

  redo(doc) {
    if (!this.future.length) return null;
    this.past.push(JSON.stringify(doc));
    return JSON.parse(this.future.pop());
  }
}

/**
 * Snap a time: to the nearest word boundary within `tolMs`, else to the nearest frame boundary
 * at `fps` (whole milliseconds, as the schedule samples them).
 */
export function snapTime(t, { words = [], fps = 24, tolMs = 0 } = {}) {
  let best = null;
  for (const w of words) {
    for (const b of [w.t_ms, w.end_ms]) {
      if (Math.abs(b - t) <= tolMs && (best === null || Math.abs(b - t) < Math.abs(best - t))) best = b;
    }
  }
  if (best !== null) return best;
  const frame = 1000 / fps;
  return Math.max(0, Math.round(Math.round(t / frame) * frame));
}

/** Move the items of `keys` by `dtMs` from their `origin` times (a drag), never before 0. */
export function moveItems(doc, origin, dtMs) {
  const lowest = Math.min(...origin.map((o) => o.t_ms));
  const dt = Math.max(dtMs, -lowest);
  for (const o of origin) {
    const it = doc.tracks[o.track][o.index];
    it.t_ms = Math.round(o.t_ms + dt);
    if (o.end_ms !== undefined) it.end_ms = Math.round(o.end_ms + dt);
  }
  return dt;
}

/** Resize an item's end (spans: end_ms; emotion/pose: transition_ms; blink: duration_ms) to `endMs`. */
export function resizeItem(doc, track, index, endMs) {
  const it = doc.tracks[track][index];
  const end = Math.max(it.t_ms, Math.round(endMs));
  if (TRACK[track].span) it.end_ms = Math.max(end, it.t_ms + 1);
  else if (track === 'blink') it.duration_ms = Math.max(20, Math.min(10000, end - it.t_ms));
  else it.transition_ms = Math.min(10000, end - it.t_ms);
}

/** Delete items by key; returns how many went. */
export function deleteItems(doc, keys) {
  const byTrack = {};
  for (const k of keys) {
    const { track, index } = parseKey(k);
    (byTrack[track] ??= new Set()).add(index);
  }
  let n = 0;
  for (const [track, gone] of Object.entries(byTrack)) {
    const before = doc.tracks[track].length;
    doc.tracks[track] = doc.tracks[track].filter((_, i) => !gone.has(i));
    n += before - doc.tracks[track].length;
  }
  return n;
}

/** A clipboard of items: {track, item} with times relative to the earliest. */
export function copyItems(doc, keys) {
  const picked = [...keys].map(parseKey).map(({ track, index }) => ({ track, item: doc.tracks[track][index] }));
  if (!picked.length) return [];
  const t0 = Math.min(...picked.map((p) => p.item.t_ms));
  return picked.map(({ track, item }) => {
    const copy = JSON.parse(JSON.stringify(item));
    copy.t_ms -= t0;
    if (copy.end_ms !== undefined) copy.end_ms -= t0;
    return { track, item: copy };
  });
}

/** Paste a clipboard at `t`; returns the keys of the new items. */
export function pasteItems(doc, clip, t) {
  const keys = [];
  for (const { track, item } of clip) {
    const copy = JSON.parse(JSON.stringify(item));
    copy.t_ms += Math.round(t);
    if (copy.end_ms !== undefined) copy.end_ms += Math.round(t);
    doc.tracks[track].push(copy);
    keys.push(keyOf(track, doc.tracks[track].length - 1));
  }
  return keys;
}

/** The latest end of anything on the tracks, in ms. */
export function contentEnd(doc) {
  let end = 0;
  for (const { key } of TRACKS) for (const it of doc.tracks[key] ?? []) end = Math.max(end, itemEnd(key, it));
  return end;
}

/** The time range the selected items cover ([start, end] ms), or null without a selection. */
export function selectionRange(doc, keys) {
  let start = Infinity;
  let end = -Infinity;
  for (const k of keys) {
    const { track, index } = parseKey(k);
    const it = doc.tracks[track][index];
    if (!it) continue;
    start = Math.min(start, it.t_ms);
    end = Math.max(end, itemEnd(track, it));
  }
  return start < end ? [start, end] : null;
}
