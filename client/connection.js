// The WebSocket to /ws (I/O): connect, reconnect with backoff, pace outgoing messages, dispatch by type.

import { CloseCode, ProtocolError, auth, describeClose, encode, isFatalClose, parseServerMessage } from './protocol.js';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;
const FLOOD_BACKOFF_MS = 5000;
const CONNECT_TIMEOUT_MS = 10000;
// The server tops up frames every batch_ms and answers pings every 5 s, so this much silence means a dead link.
const SILENCE_TIMEOUT_MS = 15000;
const REQUEST_TIMEOUT_MS = 10000;
// Below the server's flood limit (20/s sustained, bursts of 40) so a busy page is paced, never disconnected.
const SEND_RATE_PER_S = 12;
const SEND_BURST = 24;
const SEND_QUEUE_MAX = 64;

// The token never goes in the URL (proxies and logs keep URLs): it is the first message, `auth`.
export function wsUrl({ channel, role, base = location }) {
  const scheme = base.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = new URLSearchParams({ channel });
  if (role) q.set('role', role);
  return `${scheme}//${base.host}/ws?${q}`;
}

export class RequestError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'RequestError';
    this.code = code;
  }
}

/**
 * One logical connection to a channel that survives drops.
 *
 * Status goes connecting -> connected (on hello) -> reconnecting -> connected ... or failed
 * (a close code that retrying cannot fix). Handlers: on(type, fn) for server messages, and
 * on('status'), on('close'), on('protocol_error').
 */
export class Connection {
  constructor({ channel = 'main', role = 'viewer', token = '', url = null, WebSocketImpl = WebSocket } = {}) {
    this.params = { channel, role, token };
    this.fixedUrl = url;
    this.WebSocketImpl = WebSocketImpl;
    this.handlers = new Map();
    this.ws = null;
    this.status = 'idle';
    this.stopped = true;
    this.backoff = BACKOFF_MIN_MS;
    this.retryTimer = null;
    this.watchdog = null;
    this.lastMessageAt = 0;
    this.pending = new Map();
    this.seq = 0;
    this.tokens = SEND_BURST;
    this.tokensAt = performance.now();
    this.sendQueue = [];
    this.drainTimer = null;
    this.opened = false;
    this.stats = { connects: 0, disconnects: 0, handshakeFailures: 0, received: 0, sent: 0, protocolErrors: 0, lastClose: null };
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
    return this;
  }

  emit(type, payload) {
    for (const fn of this.handlers.get(type) ?? []) {
      try {
        fn(payload);
      } catch (err) {
        console.error(`streamer: ${type} handler failed`, err);
      }
    }
  }

  get url() {
    return this.fixedUrl ?? wsUrl(this.params);
  }

  start() {
    this.stopped = false;
    this.open();
    return this;
  }

  /** Change role or token and reconnect with them (e.g. after the user types a control token). */
  reconfigure(params) {
    Object.assign(this.params, params);
    this.backoff = BACKOFF_MIN_MS;
    this.stopped = false;
    this.dropSocket(CloseCode.NORMAL, 'reconfigure');
    this.open();
  }

  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.dropSocket(CloseCode.NORMAL, 'closed by page');
    this.setStatus('closed');
  }

  /** Close the current socket (if any) without triggering its reconnect logic. */
  dropSocket(code, reason) {
    const ws = this.ws;
    this.ws = null;
    clearInterval(this.watchdog);
    this.failPending('disconnected');
    this.sendQueue = [];
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(code, reason);
      } catch {
        // Already closing.
      }
    }
  }

  open() {
    clearTimeout(this.retryTimer);
    this.setStatus(this.stats.connects === 0 ? 'connecting' : 'reconnecting');
    let ws;
    try {
      ws = new this.WebSocketImpl(this.url);
    } catch (err) {
      this.emit('protocol_error', err);
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.opened = false;
    this.lastMessageAt = performance.now();
    ws.onopen = () => {
      this.opened = true;
      this.stats.handshakeFailures = 0;
      // Before anything else, unpaced: a server with a token waits for it (5 s) before hello.
      if (this.params.token || this.params.role === 'controller') ws.send(encode(auth(this.params.token)));
    };
    ws.onmessage = (ev) => this.onMessage(ev);
    ws.onclose = (ev) => this.onClose(ws, ev.code, ev.reason);
    ws.onerror = () => {}; // onclose follows with the code; an error event carries no detail.
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      const quiet = performance.now() - this.lastMessageAt;
      const limit = ws.readyState === WebSocket.CONNECTING ? CONNECT_TIMEOUT_MS : SILENCE_TIMEOUT_MS;
      if (quiet > limit && this.ws === ws) {
        this.dropSocket(CloseCode.NORMAL, 'silent');
        this.onClose(ws, CloseCode.ABNORMAL, 'no data from server');
      }
    }, 2500);
  }

  onMessage(ev) {
    this.lastMessageAt = performance.now();
    this.stats.received++;
    let msg;
    try {
      msg = parseServerMessage(ev.data);
    } catch (err) {
      // Not silence: the page shows it; the socket stays up because one bad message is not a dead link.
      this.stats.protocolErrors++;
      this.emit('protocol_error', err instanceof ProtocolError ? err : new ProtocolError(String(err)));
      return;
    }
    // A viewer of a channel that no controller has started yet waits, with a heartbeat every 5 s.
    if (msg.type === 'waiting') this.setStatus('waiting');
    if (msg.type === 'hello') {
      this.backoff = BACKOFF_MIN_MS;
      this.stats.connects++;
      this.setStatus('connected');
    }
    if ((msg.type === 'ack' || msg.type === 'error') && msg.id != null && this.pending.has(msg.id)) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === 'ack') p.resolve(msg.result ?? {});
      else p.reject(new RequestError(msg.code, msg.message));
      return;
    }
    this.emit(msg.type, msg);
  }

  onClose(ws, code, reason) {
    if (ws !== this.ws && this.ws !== null) return; // A socket we already replaced.
    this.ws = null;
    clearInterval(this.watchdog);
    this.failPending('disconnected');
    this.sendQueue = [];
    this.stats.disconnects++;
    this.stats.lastClose = { code, reason };
    // A refused handshake (HTTP 4xx, or the server is down) closes with 1006 before onopen.
    if (!this.opened) this.stats.handshakeFailures++;
    const fatal = isFatalClose(code);
    this.emit('close', { code, reason, description: describeClose(code), fatal, opened: this.opened });
    // A handler may have reconfigured (and so reopened) the connection already.
    if (this.stopped || this.ws !== null) return;
    if (fatal) {
      this.setStatus('failed');
      return;
    }
    if (code === CloseCode.FLOODING) this.backoff = Math.max(this.backoff, FLOOD_BACKOFF_MS);
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    this.setStatus('reconnecting');
    // Jitter spreads a crowd of viewers reconnecting after a server restart.
    const wait = this.backoff * (0.8 + 0.4 * Math.random());
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.open();
    }, wait);
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.emit('status', status);
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a message now if the pace allows, else queue it briefly. Returns false when not connected. */
  send(msg) {
    if (!this.isOpen) return false;
    if (this.sendQueue.length >= SEND_QUEUE_MAX) {
      this.emit('protocol_error', new ProtocolError(`send queue full, dropped ${msg.type}`));
      return false;
    }
    this.sendQueue.push(encode(msg));
    this.drain();
    return true;
  }

  drain() {
    const now = performance.now();
    this.tokens = Math.min(SEND_BURST, this.tokens + ((now - this.tokensAt) / 1000) * SEND_RATE_PER_S);
    this.tokensAt = now;
    while (this.sendQueue.length && this.tokens >= 1 && this.isOpen) {
      this.ws.send(this.sendQueue.shift());
      this.tokens -= 1;
      this.stats.sent++;
    }
    clearTimeout(this.drainTimer);
    if (this.sendQueue.length) this.drainTimer = setTimeout(() => this.drain(), 1000 / SEND_RATE_PER_S);
  }

  /** Send a controller command; resolves with ack.result, rejects with RequestError. `build(id)` makes the message. */
  request(build) {
    const id = `r${++this.seq}`;
    const msg = build(id);
    return new Promise((resolve, reject) => {
      if (!this.send(msg)) {
        reject(new RequestError('not_connected', 'not connected to the server'));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError('timeout', `no answer to ${msg.type}`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  failPending(why) {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RequestError('not_connected', why));
    }
    this.pending.clear();
  }
}
