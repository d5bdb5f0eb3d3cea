// Estimate of the server clock from NTP-style ping/pong samples (the ping timer is the only I/O).

import { ping } from './protocol.js';

const START_SAMPLES = 8;
const START_SPACING_MS = 60;
const PERIOD_MS = 5000;
const WINDOW = 12;

/** Offset between this page's monotonic clock and the server clock, from the best recent sample. */
export class ServerClock {
  constructor({ now = () => performance.now(), window = WINDOW } = {}) {
    this.now = now;
    this.window = window;
    this.reset();
  }

  /** Forget everything: a new connection may reach a restarted server whose clock began again at 0. */
  reset() {
    this.samples = [];
    this.best = null;
    this.roughOffset = null;
  }

  /** A first guess from hello.server_time_ms (one-way latency unknown), used until a pong arrives. */
  seed(serverTimeMs) {
    this.roughOffset = serverTimeMs - this.now();
  }

  addSample(clientSend, serverTime, clientReceive) {
    const rtt = clientReceive - clientSend;
    if (!(rtt >= 0)) return;
    const offset = serverTime - (clientSend + clientReceive) / 2;
    this.samples.push({ rtt, offset, at: clientReceive });
    if (this.samples.length > this.window) this.samples.shift();
    // The smallest round trip bounds the error best: |error| <= rtt / 2.
    this.best = this.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
  }

  get synced() {
    return this.best !== null;
  }

  get offsetMs() {
    if (this.best) return this.best.offset;
    return this.roughOffset;
  }

  get rttMs() {
    return this.best ? this.best.rtt : null;
  }

  /** Server time now in ms, or null before any estimate. */
  serverNow() {
    const off = this.offsetMs;
    return off == null ? null : this.now() + off;
  }
}

/** Drives a ServerClock over a connection: a burst of pings at start, then one every few seconds. */
export class ClockSync {
  constructor(clock, send, { period = PERIOD_MS, burst = START_SAMPLES, spacing = START_SPACING_MS } = {}) {
    this.clock = clock;
    this.send = send;
    this.period = period;
    this.burstSize = burst;
    this.spacing = spacing;
    this.timers = new Set();
    this.periodic = null;
    this.seq = 0;
  }

  /** Start sampling on a fresh connection (after hello). */
  start(helloServerTimeMs) {
    this.stop();
    this.clock.reset();
    if (helloServerTimeMs != null) this.clock.seed(helloServerTimeMs);
    this.burst();
    this.periodic = setInterval(() => this.pingOnce(), this.period);
  }

  /** A few quick samples, e.g. when an OBS source becomes visible again after the machine slept. */
  burst() {
    for (let i = 0; i < this.burstSize; i++) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.pingOnce();
      }, i * this.spacing);
      this.timers.add(t);
    }
  }

  pingOnce() {
    this.send(ping(`clock-${++this.seq}`, this.clock.now(), this.clock.rttMs));
  }

  handlePong(msg) {
    this.clock.addSample(msg.client_time, msg.server_time_ms, this.clock.now());
  }

  stop() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.periodic !== null) clearInterval(this.periodic);
    this.periodic = null;
  }
}
