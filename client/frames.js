// The queue of scheduled frames ([t_ms, url] on the server clock) with replace-from-time semantics. No I/O.

// Frames older than this behind "now" are dropped; the history covers audio seeks back and an OBS audio delay.
const KEEP_BEHIND_MS = 5000;

export class FrameQueue {
  constructor() {
    this.items = []; // [t_ms, url], non-decreasing t_ms; equal times keep arrival order (the last wins).
  }

  clear() {
    this.items = [];
  }

  get length() {
    return this.items.length;
  }

  /** Apply a `frames` message: drop everything at or after fromMs, then insert the new frames. */
  replaceFrom(fromMs, frames) {
    let cut = this.items.length;
    while (cut > 0 && this.items[cut - 1][0] >= fromMs) cut--;
    this.items.length = cut;
    for (const [t, url] of frames) {
      if (this.items.length && t < this.items[this.items.length - 1][0]) {
        // A frame before the kept part (not expected from a conforming server): insert it in order.
        const i = this.upperBound(t);
        this.items.splice(i, 0, [t, url]);
      } else {
        this.items.push([t, url]);
      }
    }
  }

  /** Index of the last entry with t_ms <= t, or -1. */
  indexAt(t) {
    return this.upperBound(t) - 1;
  }

  upperBound(t) {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.items[mid][0] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The entry on screen at time t ([t_ms, url]), or null when nothing is scheduled that early. */
  at(t) {
    const i = this.indexAt(t);
    return i >= 0 ? this.items[i] : null;
  }

  /** Distinct URLs from the entry on screen at t up to t + horizonMs, in time order (the preload order). */
  upcoming(t, horizonMs) {
    const out = [];
    const seen = new Set();
    for (let i = Math.max(this.indexAt(t), 0); i < this.items.length; i++) {
      const [ft, url] = this.items[i];
      if (ft > t + horizonMs) break;
      if (!seen.has(url)) {
        seen.add(url);
        out.push(url);
      }
    }
    return out;
  }

  /** Forget entries well behind t, always keeping the one on screen at t. */
  prune(t) {
    const i = this.indexAt(t - KEEP_BEHIND_MS);
    if (i > 0) this.items.splice(0, i);
  }

  /** Time of the last queued frame, or null. */
  get endMs() {
    return this.items.length ? this.items[this.items.length - 1][0] : null;
  }

  /** Frames still to come after t. */
  aheadOf(t) {
    return this.items.length - this.upperBound(t);
  }
}
