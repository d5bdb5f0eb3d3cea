// The live protocol v1 (docs/protocol.md): message constructors, parsing and constants. No I/O.

export const PROTOCOL_VERSION = 1;

export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  POLICY: 1008,
  TOO_BIG: 1009,
  SERVER_ERROR: 1011,
  SERVER_RESTART: 1012,
  BAD_TOKEN: 4001,
  BAD_CHANNEL: 4002,
  TOO_SLOW: 4008,
  FLOODING: 4029,
});

// Retrying these cannot succeed without the user changing something (origin, token, channel).
const FATAL_CLOSE_CODES = new Set([CloseCode.POLICY, CloseCode.BAD_TOKEN, CloseCode.BAD_CHANNEL]);

export function isFatalClose(code) {
  return FATAL_CLOSE_CODES.has(code);
}

export function describeClose(code) {
  switch (code) {
    case CloseCode.POLICY: return 'origin not allowed by the server (CORS_ORIGINS)';
    case CloseCode.TOO_BIG: return 'message too big';
    case CloseCode.SERVER_ERROR: return 'server error, or this page stopped reading for too long';
    case CloseCode.SERVER_RESTART: return 'server restarting';
    case CloseCode.BAD_TOKEN: return 'control token missing or wrong';
    case CloseCode.BAD_CHANNEL: return 'bad channel name, or too many channels';
    case CloseCode.TOO_SLOW: return 'too slow: the server dropped this viewer';
    case CloseCode.FLOODING: return 'too many messages sent';
    default: return `connection closed (${code})`;
  }
}

export const CHANNEL_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const ROLES = Object.freeze(['viewer', 'controller']);

export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProtocolError';
  }
}

// ------------------------------------------------------------------ viewer -> server

export function auth(token) {
  return { type: 'auth', token: String(token) };
}

/** rttMs: this client's best round trip so far (the server sizes its re-plan lead with it), or null. */
export function ping(id, clientTime, rttMs = null) {
  const msg = { type: 'ping', id, client_time: clientTime };
  if (rttMs != null && Number.isFinite(rttMs)) msg.rtt_ms = Math.round(rttMs);
  return msg;
}

export function play(id, { timelineId, timeline, atMs } = {}) {
  if ((timelineId == null) === (timeline == null)) {
    throw new ProtocolError('play: give exactly one of timelineId or timeline');
  }
  const msg = { type: 'play', id };
  if (timelineId != null) msg.timeline_id = String(timelineId);
  else msg.timeline = timeline;
  if (atMs != null) msg.at_ms = Math.round(atMs);
  return msg;
}

export function stop(id) {
  return { type: 'stop', id };
}

/** rig: a rig id from GET /rigs; the channel switches to it first (alone, or with expr/pose of that rig). */
export function set(id, { expr, pose, rig, transitionMs } = {}) {
  if (expr == null && pose == null && rig == null) throw new ProtocolError('set: give expr, pose and/or rig');
  const msg = { type: 'set', id };
  if (rig != null) msg.rig = String(rig);
  if (expr != null) msg.expr = String(expr);
  if (pose != null) msg.pose = String(pose);
  if (transitionMs != null) {
    if (!(transitionMs >= 0 && transitionMs <= 60000)) {
      throw new ProtocolError(`set: transition_ms must be 0-60000, got ${transitionMs}`);
    }
    msg.transition_ms = Math.round(transitionMs);
  }
  return msg;
}

/**
 * Say text live: whole (final, the default) or a piece of `stream` as it is written. The options
 * (voice, rate_wpm, pitch, provider, emotions, lipsync) are POST /speech's.
 */
export function say(id, { text, stream = null, final = true, ...options } = {}) {
  if (typeof text !== 'string') throw new ProtocolError('say: text must be a string');
  const msg = { type: 'say', id, text, final: !!final, ...options };
  if (stream != null) msg.stream = String(stream);
  return msg;
}

/** Stop speaking now: queued text is dropped and the mouth closes. */
export function interrupt(id) {
  return { type: 'interrupt', id };
}

/**
 * A short reaction over whatever plays: `nod`, `shake`, `blink`, `look_away` (optional `direction`,
 * `duration_ms`) or `expression` (`expr`, optional `duration_ms`).
 */
export function react(id, { reaction, ...options } = {}) {
  if (typeof reaction !== 'string') throw new ProtocolError('react: reaction must be a string');
  return { type: 'react', id, reaction, ...options };
}

export function watchExport(id, exportId) {
  return { type: 'watch_export', id, export_id: String(exportId) };
}

export function encode(msg) {
  return JSON.stringify(msg);
}

// ------------------------------------------------------------------ server -> viewer

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const isStr = (v) => typeof v === 'string';

function need(msg, field, check, what) {
  if (!check(msg[field])) {
    throw new ProtocolError(`${msg.type}: field ${field} must be ${what}, got ${JSON.stringify(msg[field])}`);
  }
}

function checkProgram(p, where) {
  if (p === null) return;
  if (!isObj(p)) throw new ProtocolError(`${where} must be a program object or null`);
  for (const f of ['start_ms', 'end_ms']) {
    if (!isNum(p[f])) throw new ProtocolError(`${where}.${f} must be a number, got ${JSON.stringify(p[f])}`);
  }
  if (p.audio != null && !(isObj(p.audio) && isStr(p.audio.url) && isNum(p.audio.start_ms))) {
    throw new ProtocolError(`${where}.audio must be null or {url, start_ms, duration_ms}`);
  }
}

function checkFrames(frames) {
  if (!Array.isArray(frames)) throw new ProtocolError('frames: field frames must be a list');
  let last = -Infinity;
  for (const f of frames) {
    if (!Array.isArray(f) || f.length < 2 || !isNum(f[0]) || !isStr(f[1])) {
      throw new ProtocolError(`frames: each frame must be [t_ms, url], got ${JSON.stringify(f)}`);
    }
    if (f[0] < last) throw new ProtocolError(`frames: times must not decrease (${f[0]} after ${last})`);
    last = f[0];
  }
}

const isRig = (v) => isObj(v) && v.expressions != null && Array.isArray(v.poses);
const isFrameSize = (v) => v === null || (Array.isArray(v) && v.length === 2 && v.every((x) => isNum(x) && x > 0));

const VALIDATORS = {
  hello(m) {
    need(m, 'protocol', isNum, 'a number');
    if (m.protocol !== PROTOCOL_VERSION) throw new ProtocolError(`hello: unsupported protocol ${m.protocol}`);
    need(m, 'server_time_ms', isNum, 'a number');
    // null happens with rigs that declare no size: the player then sizes itself from the first frame.
    need(m, 'frame_size', isFrameSize, '[w, h] or null');
    need(m, 'state', isObj, 'an object');
    need(m, 'rig', isRig, '{expressions, poses}');
    checkProgram(m.program ?? null, 'hello.program');
  },
  rig(m) {
    need(m, 'rig', isRig, '{id, expressions, poses}');
    need(m, 'frame_size', isFrameSize, '[w, h] or null');
    need(m, 't_ms', isNum, 'a number');
  },
  waiting(m) {
    need(m, 'channel', isStr, 'a string');
  },
  pong(m) {
    need(m, 'client_time', isNum, 'a number');
    need(m, 'server_time_ms', isNum, 'a number');
  },
  frames(m) {
    need(m, 'from_ms', isNum, 'a number');
    checkFrames(m.frames);
  },
  program_start(m) {
    need(m, 'program', isObj, 'an object');
    checkProgram(m.program, 'program_start.program');
  },
  audio(m) {
    need(m, 'url', isStr, 'a string');
    need(m, 'start_ms', isNum, 'a number');
    if (m.segment != null) need(m, 'segment', isNum, 'a number');
  },
  program_end(m) {
    need(m, 'reason', isStr, 'a string');
  },
  state(m) {
    need(m, 'expr', isStr, 'a string');
    need(m, 'pose', isStr, 'a string');
  },
  ack(m) {
    need(m, 'ok', (v) => v === true, 'true');
  },
  export(m) {
    need(m, 'export', (v) => isObj(v) && isStr(v.id) && isStr(v.status) && isObj(v.progress), 'a job {id, status, progress}');
  },
  error(m) {
    need(m, 'code', isStr, 'a string');
    need(m, 'message', isStr, 'a string');
  },
};

export const SERVER_TYPES = Object.freeze(Object.keys(VALIDATORS));

/** Parse and check one server message; throws ProtocolError for bad JSON, missing fields or unknown types. */
export function parseServerMessage(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError(`bad JSON from server: ${err.message}`);
  }
  if (!isObj(msg)) throw new ProtocolError('server message must be a JSON object');
  if (!isStr(msg.type)) throw new ProtocolError('server message has no type');
  const validate = VALIDATORS[msg.type];
  if (!validate) throw new ProtocolError(`unknown message type ${JSON.stringify(msg.type)}`);
  validate(msg);
  return msg;
}

/** Expression names from hello.rig or GET /rig: a list of names or a mapping keyed by name. */
export function expressionNames(rig) {
  const e = rig?.expressions;
  if (Array.isArray(e)) return e.map((x) => (isStr(x) ? x : x.name ?? x.id)).filter(isStr);
  if (isObj(e)) return Object.keys(e);
  return [];
}

export function poseNames(rig) {
  const p = rig?.poses;
  return Array.isArray(p) ? p.map((x) => (isStr(x) ? x : x.name ?? x.id)).filter(isStr) : [];
}
