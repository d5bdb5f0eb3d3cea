// The program's audio track on an <audio> element, started and kept on the server's schedule (I/O).

// Seeking is audible, so small drift is absorbed by nudging the playback rate (pitch is preserved);
// only a large error, or a resync after the page was hidden, seeks.
const DRIFT_SEEK_S = 0.5;
const RESYNC_SEEK_S = 0.1;
// A settled start off by less than this is brought in by the rate (a seek would skip or repeat speech).
const START_SEEK_S = 0.25;
const DEADBAND_S = 0.015;
const RATE_GAIN = 0.5; // playbackRate change per second of drift
const MAX_RATE_NUDGE = 0.05;
const DRIFT_CHECK_EVERY_MS = 250;
const SEEK_SETTLE_MS = 400;
// currentTime stands still for a moment after play() or a seek while the output starts; measured once
// playback has settled, and used to aim the next start or seek that much ahead.
const SETTLED_AFTER_MS = 400;
const INITIAL_LATENCY_S = 0.08;
const MAX_LATENCY_S = 0.5;
// Before its first start a page has not learnt its output latency; when a cue comes this early,
// the page plays the file muted for CALIBRATE_MS to learn it, rewinds, and then starts on time.
const CALIBRATE_MS = 250;
const CALIBRATE_MIN_LEAD_S = 0.6; // the server announces programs with audio 0.8 s ahead

/**
 * One cue at a time: {programId, url, startMs, durationMs}. Position 0 of the file plays at server
 * time startMs. While it plays, `masterNow()` gives the server time the listener hears, and frames
 * follow it rather than the (smoother but independent) clock estimate.
 */
export class AudioTrack {
  constructor(clock, { enabled = true, offsetMs = 0, onChange = () => {} } = {}) {
    this.clock = clock;
    this.enabled = enabled;
    this.offsetMs = offsetMs;
    this.onChange = onChange;
    this.el = null;
    this.cue = null;
    this.startTimer = null;
    this.state = 'idle'; // idle | waiting | starting | playing | blocked | ended | error
    this.lastCheck = 0;
    this.lastSeekAt = 0;
    this.needsGesture = false; // playing muted because the browser refused sound without a click
    this.latencyS = INITIAL_LATENCY_S;
    this.measureAt = null; // when to measure the start latency (performance.now ms), or null
    this.buffered = false; // whether the last start or seek began with its data already loaded
    this.seeks = []; // {programId, fromS, toS} of every seek, for tests and the console
    this.starts = []; // {programId, atS}: where in the file each start began
    this.calibrated = false; // whether latencyS was learnt from a start on buffered data
    this.calibrating = null; // the cue being calibrated for, while it is
  }

  element() {
    if (!this.el) {
      this.el = new Audio();
      this.el.preload = 'auto';
      this.el.addEventListener('playing', () => {
        if (this.calibrating) return; // the muted pre-roll, not the program
        this.setState('playing');
        if (this.measureAt !== null) this.measureAt = performance.now() + SETTLED_AFTER_MS;
      });
      this.el.addEventListener('ended', () => this.setState('ended'));
      this.el.addEventListener('error', () => {
        if (this.cue) this.setState('error');
      });
    }
    return this.el;
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onChange(state);
  }

  /** Handle an `audio` message. */
  play({ program_id: programId, url, start_ms: startMs, duration_ms: durationMs }) {
    if (!this.enabled) return;
    const el = this.element();
    const same = this.cue && this.cue.url === url && this.cue.programId === programId;
    this.cue = { programId, url, startMs, durationMs: durationMs ?? null };
    if (!same) {
      el.pause();
      el.playbackRate = 1;
      el.src = url;
      el.load();
    }
    const pos = this.expectedPosition();
    if (!this.calibrated && !this.calibrating && pos !== null && pos < -CALIBRATE_MIN_LEAD_S) this.calibrate();
    else this.schedule();
  }

  /**
   * Learn this page's start latency before the first start: play the file muted from 0 for a
   * moment, see how far it got, rewind, then schedule the real start. Without it the first start
   * lands late by the unknown latency and is corrected by a seek, which skips speech.
   */
  calibrate() {
    const el = this.element();
    const cue = this.cue;
    this.calibrating = cue;
    if (el.readyState < HTMLMediaElement.HAVE_ENOUGH_DATA) {
      // Measure the output's latency, not the download: wait until the file is here.
      el.addEventListener('canplaythrough', () => this.calibrateLoaded(cue), { once: true });
    } else {
      this.calibrateLoaded(cue);
    }
  }

  calibrateLoaded(cue) {
    if (this.calibrating !== cue) return; // stopped or replaced meanwhile
    const pos = this.expectedPosition();
    if (pos === null || pos > -CALIBRATE_MIN_LEAD_S) {
      this.calibrating = null; // too late now: start as usual
      if (this.cue === cue) this.schedule();
      return;
    }
    const el = this.el;
    const wasMuted = el.muted;
    el.muted = true;
    el.currentTime = 0;
    const playedAt = performance.now();
    const finish = (learnt) => {
      if (this.calibrating !== cue) return;
      // How much of the elapsed time the element did not play: its start latency.
      const lateS = (performance.now() - playedAt) / 1000 - el.currentTime;
      this.calibrating = null;
      el.pause();
      el.muted = wasMuted;
      el.currentTime = 0;
      if (learnt) {
        this.latencyS = Math.min(Math.max(lateS, 0), MAX_LATENCY_S);
        this.calibrated = true;
      }
      if (this.cue === cue) this.schedule();
    };
    el.play().then(() => setTimeout(() => finish(true), CALIBRATE_MS), () => finish(false));
  }

  schedule() {
    clearTimeout(this.startTimer);
    const pos = this.expectedPosition();
    if (pos === null) return;
    if (this.cue.durationMs != null && pos * 1000 >= this.cue.durationMs) {
      this.setState('ended');
      return;
    }
    const lead = pos + this.latencyS;
    if (lead < 0) {
      this.setState('waiting');
      this.startTimer = setTimeout(() => this.start(), -lead * 1000);
      return;
    }
    if (!this.isPlaying) this.start();
    else this.correctDrift(RESYNC_SEEK_S);
  }

  start() {
    if (!this.cue) return;
    const el = this.element();
    const pos = this.expectedPosition() + this.latencyS;
    if (this.starts.length < 1000) this.starts.push({ programId: this.programId, atS: Math.max(pos, 0) });
    if (pos > 0.02) this.seek(pos);
    else if (el.currentTime > 0) el.currentTime = 0;
    this.buffered = el.readyState >= HTMLMediaElement.HAVE_FUTURE_DATA;
    this.measureAt = Infinity; // set for real on 'playing'
    this.setState('starting');
    const cue = this.cue;
    el.play().catch((err) => {
      if (this.cue !== cue) return;
      if (err && err.name === 'AbortError') return; // superseded by a newer src or pause
      if (err && err.name === 'NotAllowedError' && !el.muted) {
        // Browsers refuse sound without a user gesture but allow muted playback: play muted so frames
        // still follow the audio clock, and let the page offer a button that calls unlock().
        this.needsGesture = true;
        el.muted = true;
        this.onChange('blocked');
        this.start();
        return;
      }
      this.setState(err && err.name === 'NotAllowedError' ? 'blocked' : 'error');
    });
  }

  /** From a user gesture (click) after autoplay with sound was refused: unmute, or start. */
  unlock() {
    this.needsGesture = false;
    if (this.el) this.el.muted = false;
    this.onChange(this.state);
    if (!this.cue) return;
    const pos = this.expectedPosition();
    if (!this.isPlaying && pos !== null && pos >= 0) this.start();
    else this.schedule();
  }

  /** Stop on program_end (only the matching program when an id is given) or on reset. */
  stop(programId = null) {
    if (!this.cue || (programId != null && this.cue.programId != null && programId !== this.cue.programId)) return;
    clearTimeout(this.startTimer);
    this.cue = null;
    this.calibrating = null;
    this.measureAt = null;
    if (this.el) {
      this.el.pause();
      this.el.playbackRate = 1;
    }
    this.setState('idle');
  }

  get programId() {
    return this.cue ? this.cue.programId : null;
  }

  /** Seconds into the file that should be playing now by the server clock, or null. */
  expectedPosition() {
    const now = this.clock.serverNow();
    if (!this.cue || now === null) return null;
    return (now - this.cue.startMs) / 1000;
  }

  seek(pos) {
    if (this.seeks.length < 1000) this.seeks.push({ programId: this.programId, fromS: this.el.currentTime, toS: pos });
    this.buffered = this.bufferedAt(pos);
    this.el.currentTime = Math.max(pos, 0);
    this.lastSeekAt = performance.now();
  }

  /** Whether the element holds data at `pos` s, so starting there costs only the output latency. */
  bufferedAt(pos) {
    const ranges = this.el.buffered;
    for (let i = 0; i < ranges.length; i++) if (ranges.start(i) <= pos && pos < ranges.end(i)) return true;
    return false;
  }

  get isPlaying() {
    return !!(this.cue && this.el && !this.el.paused && !this.el.ended && !this.calibrating);
  }

  /**
   * Server time the listener hears now, or null when audio is not the master clock. offsetMs is how
   * much later than the element's position the sound is heard (OBS's audio delay), so frames wait for it.
   */
  masterNow() {
    if (!this.isPlaying || this.state !== 'playing') return null;
    return this.cue.startMs + this.el.currentTime * 1000 - this.offsetMs;
  }

  /** Audio position minus where the server clock says it should be, in ms (null when not playing). */
  driftMs() {
    const pos = this.expectedPosition();
    if (!this.isPlaying || pos === null) return null;
    return (this.el.currentTime - pos) * 1000;
  }

  /** Seek (aiming ahead by the learnt latency) when off by more than `threshold` s, else nudge the rate. */
  correctDrift(threshold) {
    const pos = this.expectedPosition();
    if (!this.isPlaying || pos === null) return;
    const drift = this.el.currentTime - pos;
    if (Math.abs(drift) > threshold) {
      this.el.playbackRate = 1;
      this.seek(pos + this.latencyS);
      this.measureAt = performance.now() + SETTLED_AFTER_MS;
      return;
    }
    const nudge = Math.abs(drift) < DEADBAND_S ? 0 : Math.max(-MAX_RATE_NUDGE, Math.min(MAX_RATE_NUDGE, -drift * RATE_GAIN));
    const rate = 1 + nudge;
    if (Math.abs(this.el.playbackRate - rate) > 0.002) this.el.playbackRate = rate;
  }

  /** Called from the render loop: keeps playback on the shared clock (startup latency, slow drift). */
  tick() {
    if (!this.isPlaying || this.state !== 'playing') return;
    const now = performance.now();
    if (this.measureAt !== null && now >= this.measureAt) {
      // Settled after a start or seek: learn how far behind it landed, and correct once if it shows.
      // Only a start from buffered data teaches the latency: a one-off wait for the network
      // would otherwise be applied to every later seek (which then lands too far ahead).
      const pos = this.expectedPosition();
      const drift = this.el.currentTime - pos;
      if (this.buffered) {
        this.latencyS = Math.min(Math.max(this.latencyS - drift, 0), MAX_LATENCY_S);
        this.calibrated = true;
      }
      this.measureAt = null;
      this.lastCheck = now;
      if (Math.abs(drift) > START_SEEK_S) {
        this.el.playbackRate = 1;
        this.seek(pos + this.latencyS);
      }
      return;
    }
    if (now - this.lastCheck < DRIFT_CHECK_EVERY_MS || now - this.lastSeekAt < SEEK_SETTLE_MS) return;
    this.lastCheck = now;
    this.correctDrift(DRIFT_SEEK_S);
  }

  /** After the page was hidden or the clock re-sampled: re-seek to where the program is now. */
  resync() {
    if (this.cue) this.schedule();
  }
}
