// Plays a channel on a <canvas>: applies server messages to the frame queue and audio, draws on each animation frame.

import { AudioTrack } from './audio.js';
import { FrameQueue } from './frames.js';
import { ImageCache } from './images.js';
import { SegmentAudio } from './segments.js';

const PRELOAD_EVERY_MS = 100;
const LOG_MAX = 20000;
const DECODED_BUDGET_BYTES = 256 * 1024 * 1024;
const HOLD_BACK_MAX_MS = 500;

export class Player {
  /**
   * canvas: the <canvas> to draw on (never filled: transparent pixels stay transparent for OBS).
   * clock: a ServerClock. audio: {enabled, offsetMs}. onChange(what) tells the page to refresh its view.
   */
  constructor({ canvas, clock, audio = {}, cacheSize = 48, onChange = () => {} }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: true });
    this.clock = clock;
    this.onChange = onChange;
    this.queue = new FrameQueue();
    this.cache = new ImageCache({ capacity: cacheSize });
    this.audio = new AudioTrack(clock, { ...audio, onChange: () => onChange('audio') });
    // A spoken stream's segments (`audio` messages with a `segment`), gapless on the Web Audio clock.
    this.speech = new SegmentAudio(clock, { ...audio, onChange: () => onChange('audio') });
    this.frameSize = null;
    this.lookaheadMs = 1500;
    this.program = null;
    this.state = null;
    this.rig = null;
    this.pendingSize = null; // {t_ms, size}: a new rig's frame size, applied with its first frame
    this.drawnUrl = null;
    this.lastNow = null; // the time last drawn for (see steady())
    this.lastPreload = 0;
    this.running = false;
    this.stats = {
      connects: 0,
      connected: false,
      framesMessages: 0,
      framesReceived: 0,
      framesQueued: 0,
      framesDrawn: 0,
      lateFrames: 0,
      framesLateOnArrival: 0, // frames whose time had passed when their message arrived
      frameLagMs: 0,
      clockOffsetMs: null,
      rttMs: null,
      audioState: 'idle',
      audioMuted: false,
      audioDriftMs: null,
      master: 'clock',
      programId: null,
      decoded: 0,
      imageErrors: 0,
    };
    // Read by tests and handy from the console: what is on screen and, during audio, what was drawn when.
    this.debug = {
      frameOnScreen: null,
      stats: this.stats,
      log: [],
      audioSeeks: this.audio.seeks,
      audioStarts: this.audio.starts,
      speech: this.speech.log,
      speechLog: [], // {heardMs, url}: the frame drawn while a spoken segment is heard, and the voice's time
    };
    this.cache.onError = (url, err) => {
      this.stats.imageErrors++;
      console.warn('streamer: frame failed to load', url, err);
    };
  }

  /** Subscribe to a Connection's messages. */
  attach(conn) {
    conn.on('hello', (m) => this.onHello(m));
    conn.on('rig', (m) => this.onRig(m));
    conn.on('frames', (m) => this.onFrames(m));
    conn.on('program_start', (m) => this.onProgramStart(m));
    conn.on('audio', (m) => (m.segment != null ? this.speech.play(m) : this.audio.play(m)));
    conn.on('program_end', (m) => this.onProgramEnd(m));
    conn.on('state', (m) => {
      this.state = { expr: m.expr, pose: m.pose, t_ms: m.t_ms };
      this.onChange('state');
    });
    return this;
  }

  onHello(m) {
    // A (re)connection: the new hello and frames replace everything we had.
    this.queue.clear();
    this.lastNow = null;
    this.lookaheadMs = m.lookahead_ms ?? this.lookaheadMs;
    this.state = m.state;
    this.rig = m.rig;
    this.pendingSize = null;
    this.program = m.program ?? null;
    this.stats.programId = this.program ? this.program.id : null;
    if (!this.program || this.program.id !== this.audio.programId) this.audio.stop();
    this.speech.stop(); // a joining viewer is sent the segments still to hear
    if (m.frame_size) this.setFrameSize(m.frame_size);
    this.onChange('hello');
  }

  onRig(m) {
    // The channel plays another rig from t_ms: its frames follow in the next frames message. The
    // canvas takes the new size with the first of them, so the old rig's last frames are not stretched.
    this.rig = m.rig;
    this.pendingSize = { t_ms: m.t_ms, size: m.frame_size };
    this.onChange('rig');
  }

  onFrames(m) {
    const now = this.clock.serverNow();
    if (now !== null) {
      // The first pair may be the frame already on screen (at from_ms): only later ones can be late.
      for (const [t] of m.frames) if (t > m.from_ms && t < now) this.stats.framesLateOnArrival++;
    }
    this.queue.replaceFrom(m.from_ms, m.frames);
    this.stats.framesMessages++;
    this.stats.framesReceived += m.frames.length;
    this.preload(this.now());
  }

  onProgramStart(m) {
    this.program = m.program;
    this.stats.programId = m.program.id ?? null;
    this.onChange('program');
  }

  onProgramEnd(m) {
    this.audio.stop(m.program_id);
    // An interrupt cuts the voice when the server closes the mouth; a finished program has ended.
    this.speech.stop(m.program_id, m.reason === 'interrupted' ? m.t_ms : null);
    if (!this.program || m.program_id == null || this.program.id === m.program_id) {
      this.program = null;
      this.stats.programId = null;
    }
    this.onChange('program');
  }

  setFrameSize(size) {
    if (!Array.isArray(size)) return;
    const [w, h] = size;
    if (this.frameSize && this.frameSize[0] === w && this.frameSize[1] === h) return;
    this.frameSize = [w, h];
    // Decoded frames cost w*h*4 bytes each: keep about 256 MB of them, whatever the rig's size.
    this.cache.capacity = Math.max(16, Math.min(96, Math.floor(DECODED_BUDGET_BYTES / (w * h * 4))));
    this.canvas.width = w;
    this.canvas.height = h;
    this.drawnUrl = null; // resizing cleared the canvas
    this.onChange('size');
  }

  /** The time frames are shown for: the audio's when it plays, else the server clock estimate. */
  now() {
    return this.steady(this.masterNow(), this.clock.serverNow());
  }

  /** Server time the listener hears: the spoken segment's, else the program audio's; null without sound. */
  masterNow() {
    return this.speech.masterNow() ?? this.audio.masterNow();
  }

  /**
   * Frames never step back when the audio takes over from the clock: an element that has just
   * started may report a position a little behind what the clock already showed. Hold the frame
   * on screen until the audio catches up (a larger step back is a real seek or a new program).
   */
  steady(audioNow, clockNow) {
    const now = audioNow ?? clockNow;
    if (now === null) return null;
    const last = this.lastNow;
    this.lastNow = now;
    if (audioNow !== null && last != null && now < last && last - now < HOLD_BACK_MAX_MS) {
      this.lastNow = last;
      return last;
    }
    return now;
  }

  preload(now) {
    if (now === null) return;
    this.lastPreload = performance.now();
    this.cache.preload(this.queue.upcoming(now, this.lookaheadMs));
  }

  start() {
    if (this.running) return this;
    this.running = true;
    const loop = () => {
      if (!this.running) return;
      this.frame();
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
    return this;
  }

  stop() {
    this.running = false;
  }

  /** One animation frame: pick the entry for now, draw it if decoded, record stats. */
  frame() {
    const speechNow = this.speech.masterNow();
    const audioNow = speechNow ?? this.audio.masterNow();
    const now = this.steady(audioNow, this.clock.serverNow());
    this.audio.tick();
    this.stats.master = audioNow !== null ? 'audio' : 'clock';
    this.stats.audioState = this.audio.state;
    this.stats.audioMuted = !!(this.audio.el && this.audio.el.muted);
    this.stats.audioDriftMs = this.audio.driftMs();
    this.stats.clockOffsetMs = this.clock.offsetMs;
    this.stats.rttMs = this.clock.rttMs;
    if (now === null) return;
    if (performance.now() - this.lastPreload > PRELOAD_EVERY_MS) {
      this.queue.prune(now);
      this.preload(now);
    }
    this.stats.framesQueued = this.queue.aheadOf(now);
    const entry = this.queue.at(now);
    if (entry) {
      const [t, url] = entry;
      if (url !== this.drawnUrl) {
        const img = this.cache.get(url);
        if (img) {
          if (this.pendingSize && t >= this.pendingSize.t_ms) this.applyPendingSize();
          this.draw(url, img);
        }
      }
      if (url !== this.drawnUrl) {
        this.stats.lateFrames++;
        this.stats.frameLagMs = Math.round(now - t);
      } else {
        this.stats.frameLagMs = 0;
      }
    }
    this.stats.decoded = this.cache.stats.decoded;
    if (speechNow !== null && this.drawnUrl) {
      const log = this.debug.speechLog;
      if (log.length >= LOG_MAX) log.splice(0, log.length - LOG_MAX + 1);
      log.push({ heardMs: this.speech.audioNow(), url: this.drawnUrl });
    } else if (audioNow !== null && this.drawnUrl) {
      const log = this.debug.log;
      if (log.length >= LOG_MAX) log.splice(0, log.length - LOG_MAX + 1);
      log.push({
        audioMs: this.audio.el.currentTime * 1000,
        programMs: this.program ? now - this.program.start_ms : null,
        programId: this.audio.programId,
        url: this.drawnUrl,
      });
    }
  }

  applyPendingSize() {
    const { size } = this.pendingSize;
    this.pendingSize = null;
    if (size) this.setFrameSize(size);
    else this.frameSize = null; // a rig without a declared size: draw() takes the image's
  }

  draw(url, img) {
    if (!this.frameSize) this.setFrameSize([img.naturalWidth ?? img.width, img.naturalHeight ?? img.height]);
    const { width, height } = this.canvas;
    this.ctx.clearRect(0, 0, width, height);
    this.ctx.drawImage(img, 0, 0, width, height);
    this.drawnUrl = url;
    this.debug.frameOnScreen = url;
    this.stats.framesDrawn++;
  }

  /** After the page was hidden or an OBS source reactivated: re-seek audio to the shared clock. */
  resync() {
    this.audio.resync();
  }
}
