// Fetches and decodes frame images ahead of their time, kept in a small LRU cache by count (I/O).

const RETRY_AFTER_MS = 2000;

function sameOrigin(url) {
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch {
    return false;
  }
}

async function decode(url, signal) {
  if (sameOrigin(url) && typeof createImageBitmap === 'function') {
    // Decoding off the main thread into a bitmap keeps drawImage cheap at presentation time.
    const res = await fetch(url, { signal });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return createImageBitmap(await res.blob());
  }
  // CDN or presigned URLs may not send CORS headers: an <img> can still be drawn (the canvas is only tainted).
  const img = new Image();
  img.decoding = 'async';
  img.src = url;
  await img.decode();
  return img;
}

export class ImageCache {
  constructor({ capacity = 48, concurrency = 6 } = {}) {
    this.capacity = capacity;
    this.concurrency = concurrency;
    this.ready = new Map(); // url -> image, in LRU order (oldest first)
    this.inflight = new Map(); // url -> Promise
    this.failed = new Map(); // url -> time of failure
    this.wanted = []; // preload order not yet started
    this.stats = { decoded: 0, hits: 0, misses: 0, errors: 0 };
    this.onError = null;
  }

  /** The decoded image for url, or null (and a load is started). */
  get(url) {
    const img = this.ready.get(url);
    if (img) {
      this.ready.delete(url);
      this.ready.set(url, img);
      this.stats.hits++;
      return img;
    }
    this.stats.misses++;
    this.load(url);
    return null;
  }

  has(url) {
    return this.ready.has(url);
  }

  /** Load these URLs in order (nearest first), replacing any earlier preload wish list. */
  preload(urls) {
    const keep = urls.slice(0, this.capacity);
    for (const url of keep) {
      const img = this.ready.get(url);
      if (img) {
        this.ready.delete(url);
        this.ready.set(url, img);
      }
    }
    this.wanted = keep.filter((u) => !this.ready.has(u) && !this.inflight.has(u));
    this.pump();
  }

  pump() {
    while (this.inflight.size < this.concurrency && this.wanted.length) {
      this.load(this.wanted.shift());
    }
  }

  load(url) {
    if (this.ready.has(url) || this.inflight.has(url)) return this.inflight.get(url) ?? Promise.resolve();
    const failedAt = this.failed.get(url);
    if (failedAt !== undefined && performance.now() - failedAt < RETRY_AFTER_MS) return Promise.resolve();
    const p = decode(url)
      .then((img) => {
        this.failed.delete(url);
        this.stats.decoded++;
        this.ready.set(url, img);
        this.evict();
      })
      .catch((err) => {
        this.stats.errors++;
        this.failed.set(url, performance.now());
        if (this.onError) this.onError(url, err);
      })
      .finally(() => {
        this.inflight.delete(url);
        this.pump();
      });
    this.inflight.set(url, p);
    return p;
  }

  evict() {
    while (this.ready.size > this.capacity) {
      const [url, img] = this.ready.entries().next().value;
      this.ready.delete(url);
      if (typeof img.close === 'function') img.close();
    }
  }

  clear() {
    for (const img of this.ready.values()) if (typeof img.close === 'function') img.close();
    this.ready.clear();
    this.wanted = [];
  }

  get size() {
    return this.ready.size;
  }
}
