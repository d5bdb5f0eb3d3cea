// Composes one live session for a page: connection, clock sync and player, wired together.

import { ClockSync, ServerClock } from './clock.js';
import { Connection } from './connection.js';
import { Player } from './player.js';

/** Read an integer/float URL parameter with a default and bounds. */
export function numberParam(params, name, fallback, { min = -Infinity, max = Infinity } = {}) {
  const raw = params.get(name);
  if (raw === null || raw.trim() === '') return fallback;
  const v = Number(raw);
  return Number.isFinite(v) ? Math.min(Math.max(v, min), max) : fallback;
}

/**
 * Set up watching (or controlling) a channel and drawing it on `canvas`; nothing happens until start().
 * Returns {conn, clock, sync, player, start(), resync()}; `resync()` re-samples the clock and re-seeks the audio.
 */
export function createLive({ canvas, channel, role = 'viewer', token = '', audio = {}, onChange = () => {} }) {
  const clock = new ServerClock();
  const conn = new Connection({ channel, role, token });
  const sync = new ClockSync(clock, (msg) => conn.send(msg));
  const player = new Player({ canvas, clock, audio, onChange });
  const stats = player.stats;

  conn.on('hello', (m) => {
    sync.start(m.server_time_ms);
    stats.connects = conn.stats.connects;
    stats.connected = true;
  });
  conn.on('pong', (m) => {
    sync.handlePong(m);
    onChange('clock');
  });
  conn.on('status', (status) => {
    stats.connection = status;
    onChange('status');
  });
  conn.on('close', (c) => {
    sync.stop();
    stats.connected = false;
    stats.lastCloseCode = c.code;
  });
  // The preview also toasts these; logging them here leaves a trace in an OBS source, which has no UI.
  conn.on('protocol_error', (err) => console.error('streamer:', err.message));
  conn.on('error', (m) => console.warn(`streamer: server error ${m.code}: ${m.message}`));
  player.attach(conn);

  const session = {
    conn,
    clock,
    sync,
    player,
    /** Connect and start drawing (separate from construction so the page can keep references first). */
    start() {
      conn.start();
      player.start();
      return session;
    },
    resync() {
      if (conn.status === 'connected') sync.burst();
      // Re-seek once the fresh samples are in, so the seek uses the new estimate.
      setTimeout(() => player.resync(), 600);
      player.resync();
    },
  };
  return session;
}
