// Spoken segments (a channel's `say`) on the Web Audio clock: each fetched and decoded ahead, then
// started at its exact time, so one segment runs into the next without a gap or a click (I/O).
//
// The context's output clock is tied to server time once (an anchor), and every segment is
// scheduled from that one anchor: consecutive segments meet sample-exactly. While a segment is
// heard, `masterNow()` gives the server time the listener hears, and frames follow it.

const FADE_S = 0.012; // an interrupted segment fades out this fast (no click)
const LOG_MAX = 1000;

export class SegmentAudio {
  constructor(clock, { enabled = true, offsetMs = 0, onChange = () => {} } = {}) {
    this.clock = clock;
    this.enabled = enabled;
    this.offsetMs = offsetMs;
    this.onChange = onChange;
    this.ctx = null;
    this.anchor = null; // {ctxS, serverMs}: the output clock at a known server time
    this.cues = new Map(); // url -> {url, programId, segment, startMs, source, gain, ctxStart, durationS}
    this.log = []; // {programId, segment, startMs, durationMs, ctxStart, offsetS, durationS}: what was scheduled
    this.errors = 0;
  }

  context() {
    if (!this.ctx) {
      this.ctx = new AudioContext({ latencyHint: 'interactive' });
      this.ctx.onstatechange = () => this.onChange(this.ctx.state);
    }
    return this.ctx;
  }

  /** The context time being heard now (what leaves the speakers), from its output timestamp. */
  heardNow() {
    const ctx = this.ctx;
    const ts = ctx.getOutputTimestamp ? ctx.getOutputTimestamp() : null;
    if (ts && ts.contextTime > 0 && ts.performanceTime > 0) {
      return ts.contextTime + (performance.now() - ts.performanceTime) / 1000;
    }
    return ctx.currentTime - (ctx.baseLatency || 0) - (ctx.outputLatency || 0);
  }

  /** Context time at which server time `serverMs` is heard (anchoring the two clocks the first time). */
  toCtx(serverMs) {
    if (!this.anchor) {
      const now = this.clock.serverNow();
      if (now === null) return null;
      this.anchor = { ctxS: this.heardNow(), serverMs: now };
    }
    return this.anchor.ctxS + (serverMs - this.anchor.serverMs) / 1000;
  }

  /** Handle an `audio` message that carries a `segment` number. */
  play({ program_id: programId, url, start_ms: startMs, duration_ms: durationMs, segment }) {
    if (!this.enabled || this.cues.has(url)) return;
    const cue = { url, programId, segment, startMs, durationMs, source: null, gain: null, ctxStart: null, durationS: 0 };
    this.cues.set(url, cue);
    const ctx = this.context();
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    fetch(url)
      .then((res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return res.arrayBuffer();
      })
      .then((data) => ctx.decodeAudioData(data))
      .then((buffer) => this.schedule(cue, buffer))
      .catch((err) => {
        console.warn('streamer: speech segment failed', url, err);
        this.cues.delete(url);
        this.errors++;
        this.onChange('error');
      });
  }

  schedule(cue, buffer) {
    if (this.cues.get(cue.url) !== cue) return; // stopped meanwhile
    const ctx = this.ctx;
    const when = this.toCtx(cue.startMs + this.offsetMs);
    if (when === null) return;
    const heard = this.heardNow();
    const offsetS = Math.max(heard - when, 0); // joined mid-segment: start partway in
    if (offsetS >= buffer.duration) return; // already over
    const gain = ctx.createGain();
    gain.connect(ctx.destination);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(gain);
    // Scheduling is in context time; the output lags it by the latency heardNow() accounts for.
    const lag = ctx.currentTime - heard;
    source.start(Math.max(when + lag, ctx.currentTime), offsetS);
    source.onended = () => {
      if (this.cues.get(cue.url) !== cue) return;
      this.cues.delete(cue.url);
      if (!this.cues.size) this.anchor = null; // re-anchored at the next segment: the clocks may drift apart
    };
    Object.assign(cue, { source, gain, ctxStart: when, durationS: buffer.duration });
    if (this.log.length < LOG_MAX) {
      const { programId, segment, startMs, durationMs } = cue;
      this.log.push({ programId, segment, startMs, durationMs, ctxStart: when, offsetS, durationS: buffer.duration });
    }
  }

  /** The cue being heard now, if any. */
  current() {
    if (!this.ctx || this.ctx.state !== 'running') return null;
    const heard = this.heardNow();
    for (const cue of this.cues.values()) {
      if (cue.ctxStart !== null && heard >= cue.ctxStart && heard < cue.ctxStart + cue.durationS) return cue;
    }
    return null;
  }

  /** Server time the listener hears now, or null when no segment plays. */
  masterNow() {
    if (!this.current()) return null;
    return this.anchor.serverMs + (this.heardNow() - this.anchor.ctxS) * 1000 - this.offsetMs;
  }

  /**
   * Where the voice is now, in server time, from the segment being heard and where its source was
   * started (not from the clock anchor masterNow() uses): for checking that frames follow the voice.
   */
  audioNow() {
    const cue = this.current();
    if (!cue) return null;
    return cue.startMs + (this.heardNow() - cue.ctxStart) * 1000 - this.offsetMs;
  }

  /**
   * Stop a program's segments (all programs' without an id): at server time `atMs` with a short
   * fade (an interrupt: the server closes the mouth then), else now.
   */
  stop(programId = null, atMs = null) {
    const ctx = this.ctx;
    for (const [url, cue] of [...this.cues]) {
      if (programId != null && cue.programId !== programId) continue;
      this.cues.delete(url);
      if (!cue.source) continue;
      const at = atMs != null ? Math.max(this.toCtx(atMs) + (ctx.currentTime - this.heardNow()), ctx.currentTime) : ctx.currentTime;
      cue.gain.gain.setValueAtTime(1, at);
      cue.gain.gain.linearRampToValueAtTime(0, at + FADE_S);
      cue.source.stop(at + FADE_S);
    }
    if (!this.cues.size) this.anchor = null;
  }

  /** From a user gesture, where the browser refused to start audio without one. */
  unlock() {
    if (this.ctx && this.ctx.state === 'suspended') this.ctx.resume().catch(() => {});
  }
}
