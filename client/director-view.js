// The Director's time axis: ruler, waveform, one lane of DOM items per track, markers and the
// playhead; pointer input for seeking, selecting, dragging, resizing, adding and zooming.

import { TRACKS, itemEnd, keyOf, moveItems, parseKey, resizeItem, snapTime } from './director-model.js';

const MIN_ZOOM = 0.001; // px per ms: an hour in 3600 px
const MAX_ZOOM = 2;
const SNAP_PX = 8;
const TICK_MIN_PX = 90;
const TICK_STEPS = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000];
const DRAG_START_PX = 3;
const DENSE_ZOOM = 0.04; // px per ms below which items are drawn without labels
// Far out, the busiest tracks (thousands of items a few pixels wide) are painted on a canvas
// instead of being elements: zoom in to edit them.
const DRAWN_WHEN_DENSE = ['words', 'speech'];

export function fmtTime(ms, precise = true) {
  const neg = ms < 0;
  ms = Math.abs(Math.round(ms));
  const m = Math.floor(ms / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  const rest = ms % 1000;
  const text = `${m}:${String(s).padStart(2, '0')}${precise ? `.${String(rest).padStart(3, '0')}` : ''}`;
  return neg ? `-${text}` : text;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class TimelineView {
  /**
   * root: the element to build in. app: the page's state and callbacks ({doc, selection (Set of keys),
   * fps, idleBlinks, durationMs, audioEndMs, audioOffsetMs, playheadMs, beginEdit(), edited(),
   * dragged(keys), zoomed(), select(keys), seek(t), add(track, t)}).
   */
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.zoom = 0.1;
    this.peaks = null; // {ms per bucket, min/max Float32Array}
    this.drag = null;
    this.windowMs = null; // [t0, t1, zoom] of the items built
    this.nodes = new Map(); // key (or ghost:t) -> element, for the items built
    this.rulerFor = null; // the window the ruler's ticks were built for
    this.waveHeight = 48;
    this.laneHeight = 30;
    this.denseColors = {};
    this.waveColor = '#5b5bd6';
    this.invalid = null; // {key, message}
    this.build();
  }

  build() {
    const labels = el('div', 'tl-labels');
    labels.append(el('div', 'tl-label ruler-label', ''));
    labels.append(Object.assign(el('div', 'tl-label', 'Audio'), { title: 'The audio waveform' }));
    this.scroll = el('div', 'tl-scroll');
    this.content = el('div', 'tl-content');
    this.ruler = el('div', 'ruler');
    this.ruler.title = 'Click or drag to move the playhead';
    this.audioLane = el('div', 'lane lane-audio');
    this.content.append(this.ruler, this.audioLane);
    // The canvases (waveform; far out, words and visemes) stay over the view rather than
    // scrolling with the items: moving them on every scroll step cost more than redrawing them.
    this.overlay = el('div', 'tl-overlay');
    this.wave = el('canvas', 'wave');
    this.overlay.append(this.wave);
    this.lanes = {};
    this.denseCanvases = {};
    for (const t of TRACKS) {
      const label = el('div', `tl-label track-${t.key}`, t.label);
      label.title = `${t.label}: double-click the lane to add one`;
      labels.append(label);
      const lane = el('div', `lane track-${t.key}`);
      lane.dataset.track = t.key;
      lane.setAttribute('role', 'list');
      lane.setAttribute('aria-label', `${t.label} track`);
      this.lanes[t.key] = lane;
      if (DRAWN_WHEN_DENSE.includes(t.key)) {
        const canvas = el('canvas', `lane-canvas track-${t.key}`);
        canvas.hidden = true;
        this.overlay.append(canvas);
        this.denseCanvases[t.key] = canvas;
      }
      this.content.append(lane);
    }
    this.audioEnd = Object.assign(el('div', 'marker audio-end'), { title: 'The audio ends here', hidden: true });
    this.tlEnd = Object.assign(el('div', 'marker timeline-end'), { title: 'The timeline ends here', hidden: true });
    this.playhead = el('div', 'playhead');
    this.content.append(this.audioEnd, this.tlEnd, this.playhead);
    this.scroll.append(this.content);
    this.root.replaceChildren(labels, this.overlay, this.scroll);

    this.scroll.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.scroll.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
    this.ruler.addEventListener('pointerdown', (e) => this.onRulerDown(e));
    this.content.addEventListener('pointerdown', (e) => this.onPointerDown(e));
    this.content.addEventListener('dblclick', (e) => this.onDoubleClick(e));
    new ResizeObserver(() => this.onResize()).observe(this.scroll);
  }

  // -- geometry ---------------------------------------------------------------------------

  get totalMs() {
    return Math.max(this.app.durationMs || 0, this.app.audioEndMs || 0, 1000) + 2000;
  }

  xOf(t) {
    return t * this.zoom;
  }

  timeAt(clientX) {
    const box = this.content.getBoundingClientRect();
    return (clientX - box.left) / this.zoom;
  }

  setZoom(zoom, anchorClientX = null) {
    zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
    const box = this.scroll.getBoundingClientRect();
    const ax = anchorClientX ?? box.left + box.width / 2;
    const tAnchor = (ax - box.left + this.scroll.scrollLeft) / this.zoom;
    this.zoom = zoom;
    this.windowMs = null;
    // Zoomed far out, items are a few pixels wide: drop their labels (most of the painting).
    this.root.classList.toggle('dense', zoom < DENSE_ZOOM);
    this.layout();
    this.scroll.scrollLeft = Math.max(0, tAnchor * zoom - (ax - box.left));
    this.onScroll();
    this.app.zoomed?.();
  }

  fit() {
    const width = this.scroll.clientWidth || 1000;
    this.setZoom((width - 24) / Math.max(this.app.durationMs || 0, this.app.audioEndMs || 0, 1000));
    this.scroll.scrollLeft = 0;
  }

  layout() {
    this.content.style.setProperty('--z', String(this.zoom));
    this.content.style.width = `${Math.ceil(this.xOf(this.totalMs))}px`;
    this.placeMarkers();
    this.placePlayhead();
  }

  placeMarkers() {
    const { audioEndMs, durationMs } = this.app;
    this.audioEnd.hidden = !audioEndMs;
    if (audioEndMs) this.audioEnd.style.transform = `translateX(${this.xOf(audioEndMs)}px)`;
    this.tlEnd.hidden = !durationMs;
    if (durationMs) this.tlEnd.style.transform = `translateX(${this.xOf(durationMs)}px)`;
  }

  placePlayhead() {
    // A transform, not `left`: moving it every frame while playing causes no layout.
    this.playhead.style.transform = `translateX(${this.xOf(this.app.playheadMs)}px)`;
  }

  /** Keep the playhead in view while playing (page by page, so the items do not slide under the pointer). */
  follow() {
    const x = this.xOf(this.app.playheadMs);
    const { scrollLeft, clientWidth } = this.scroll;
    if (x < scrollLeft || x > scrollLeft + clientWidth - 40) this.scroll.scrollLeft = Math.max(0, x - 40);
  }

  onResize() {
    // Read here, not on every scroll step: reading styles or sizes there would force a layout.
    this.waveHeight = this.audioLane.clientHeight || 48;
    this.wave.style.top = `${this.audioLane.offsetTop}px`;
    this.waveColor = getComputedStyle(this.wave).color;
    this.laneHeight = this.lanes.words.clientHeight || 30;
    for (const [key, canvas] of Object.entries(this.denseCanvases)) canvas.style.top = `${this.lanes[key].offsetTop}px`;
    for (const [key, canvas] of Object.entries(this.denseCanvases)) this.denseColors[key] = getComputedStyle(canvas).color;
    this.rulerFor = null;
    this.waveBlank = false;
    this.onScroll();
  }

  onScroll() {
    if (this.app.doc) this.renderWindow();
    this.drawRuler();
    this.drawWave();
    this.drawDense();
  }

  /** Far out: paint the busiest tracks' items as coloured marks on their lanes' canvases. */
  drawDense() {
    if (!this.app.doc || this.zoom >= DENSE_ZOOM) return;
    const { scrollLeft, clientWidth } = this.scroll;
    const v0 = scrollLeft / this.zoom;
    const v1 = (scrollLeft + clientWidth) / this.zoom;
    for (const [key, canvas] of Object.entries(this.denseCanvases)) {
      const ctx = this.sizeCanvas(canvas, clientWidth, this.laneHeight);
      ctx.fillStyle = this.denseColors[key];
      for (const it of this.app.doc.tracks[key]) {
        if (it.t_ms > v1 || it.end_ms < v0) continue;
        const x = it.t_ms * this.zoom - scrollLeft;
        ctx.fillRect(x, 4, Math.max(1, (it.end_ms - it.t_ms) * this.zoom - 0.5), this.laneHeight - 8);
      }
    }
  }

  /** Size a canvas to the visible width (device pixels) and clear it; its 2D context. */
  sizeCanvas(canvas, width, height) {
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    return ctx;
  }

  onWheel(e) {
    if (e.ctrlKey || e.metaKey) {
      // Pinch-zoom on a touchpad arrives as a wheel event with ctrlKey.
      e.preventDefault();
      this.setZoom(this.zoom * Math.exp(-e.deltaY * 0.004), e.clientX);
    } else if (Math.abs(e.deltaY) > Math.abs(e.deltaX)) {
      e.preventDefault();
      this.scroll.scrollLeft += e.deltaY;
    }
  }

  // -- drawing ----------------------------------------------------------------------------

  /** The ticks of the built window (rebuilt only when the window is: not on every scroll step). */
  drawRuler() {
    const { scrollLeft, clientWidth } = this.scroll;
    const range = this.windowMs ?? [scrollLeft / this.zoom, (scrollLeft + clientWidth) / this.zoom, this.zoom];
    if (range === this.rulerFor) return;
    this.rulerFor = range;
    const step = TICK_STEPS.find((s) => s * this.zoom >= TICK_MIN_PX) ?? TICK_STEPS[TICK_STEPS.length - 1];
    const t0 = Math.max(0, Math.floor(range[0] / step) * step);
    const t1 = range[1];
    const frag = document.createDocumentFragment();
    for (let t = t0; t <= t1 + step; t += step) {
      const tick = el('span', 'tick', fmtTime(t, step < 1000));
      tick.style.transform = `translateX(${this.xOf(t)}px)`;
      frag.append(tick);
    }
    this.ruler.replaceChildren(frag);
  }

  /** Set the waveform's peaks: {bucketMs, min, max} (Float32Arrays), or null. */
  setPeaks(peaks) {
    this.peaks = peaks;
    this.waveBlank = false;
    this.drawWave();
  }

  drawWave() {
    const p = this.peaks;
    if (!p && this.waveBlank) return;
    const { clientWidth } = this.scroll;
    const h = this.waveHeight;
    const ctx = this.sizeCanvas(this.wave, clientWidth, h);
    const scrollLeft = this.scroll.scrollLeft;
    this.waveBlank = !p;
    if (!p) return;
    const offset = this.app.audioOffsetMs || 0;
    ctx.fillStyle = this.waveColor;
    const mid = h / 2;
    for (let x = 0; x < clientWidth; x++) {
      const ta = (scrollLeft + x) / this.zoom - offset;
      const tb = (scrollLeft + x + 1) / this.zoom - offset;
      const a = Math.max(0, Math.floor(ta / p.bucketMs));
      const b = Math.min(p.max.length, Math.ceil(tb / p.bucketMs));
      if (b <= a) continue;
      let lo = 0;
      let hi = 0;
      for (let i = a; i < b; i++) {
        if (p.min[i] < lo) lo = p.min[i];
        if (p.max[i] > hi) hi = p.max[i];
      }
      ctx.fillRect(x, mid - hi * mid, 1, Math.max(1, (hi - lo) * mid));
    }
  }

  /**
   * Redraw the items (after an edit, undo or a new document). Only the items near the visible
   * stretch of the axis are elements (one screen either side): a 10-minute timeline has ~7,000
   * items, and zooming or dragging must not lay out all of them.
   */
  render() {
    // Elements are kept and updated where their items still exist: one under the pointer is
    // not replaced when an answer from the server redraws the tracks.
    this.windowMs = null;
    for (const [key, node] of this.nodes) {
      if (key.startsWith('ghost:')) continue;
      const { track, index } = parseKey(key);
      const it = this.app.doc.tracks[track]?.[index];
      if (!it) {
        node.remove();
        this.nodes.delete(key);
        continue;
      }
      this.placeItem(node, track, it);
      node.classList.toggle('selected', this.app.selection.has(key));
    }
    this.layout();
    this.renderWindow();
    this.drawDense();
  }

  /**
   * Keep the elements of the items near the visible stretch: when the view leaves the built
   * window, items that came into the new one are added and those that left are removed (the
   * others stay as they are, so scrolling builds only what scrolls in).
   */
  renderWindow() {
    const { scrollLeft, clientWidth } = this.scroll;
    const width = clientWidth || 1000;
    const v0 = scrollLeft / this.zoom;
    const v1 = (scrollLeft + width) / this.zoom;
    const w = this.windowMs;
    if (w && v0 >= w[0] && v1 <= w[1] && w[2] === this.zoom) return;
    // Far out, a screen holds minutes of items: build less beyond it.
    const pad = (width / this.zoom) * (this.zoom < DENSE_ZOOM ? 0.25 : 1);
    const t0 = v0 - pad;
    const t1 = v1 + pad;
    this.windowMs = [t0, t1, this.zoom];
    const wanted = new Set();
    const dense = this.zoom < DENSE_ZOOM;
    for (const t of TRACKS) {
      const canvas = this.denseCanvases[t.key];
      if (canvas) canvas.hidden = !dense;
      if (canvas && dense) continue;
      const items = this.app.doc.tracks[t.key];
      const lane = this.lanes[t.key];
      const frag = document.createDocumentFragment();
      if (t.key === 'blink') {
        for (const [bt, dur] of this.app.idleBlinks ?? []) {
          if (bt + dur < t0 || bt > t1) continue;
          const key = `ghost:${bt}`;
          wanted.add(key);
          if (!this.nodes.has(key)) frag.append(this.ghostElement(key, bt, dur));
        }
      }
      for (let i = 0; i < items.length; i++) {
        const it = items[i];
        if (it.t_ms > t1 || itemEnd(t.key, it) < t0) continue;
        const key = keyOf(t.key, i);
        wanted.add(key);
        if (!this.nodes.has(key)) frag.append(this.itemElement(t, i, it));
      }
      lane.append(frag);
    }
    for (const [key, node] of this.nodes) {
      if (wanted.has(key)) continue;
      node.remove();
      this.nodes.delete(key);
    }
  }

  ghostElement(key, t, duration) {
    const ghost = el('div', 'item ghost');
    ghost.style.setProperty('--t', t);
    ghost.style.setProperty('--d', duration);
    ghost.title = `idle blink at ${fmtTime(t)} (from the timeline's seed; not editable)`;
    this.nodes.set(key, ghost);
    return ghost;
  }

  itemElement(t, i, it) {
    const key = keyOf(t.key, i);
    const node = el('div', `item${t.span ? ' span' : ' point'}`);
    node.dataset.key = key;
    node.setAttribute('role', 'listitem');
    node.append(el('span', 'label', t.text(it)), el('span', 'grip'));
    this.placeItem(node, t.key, it);
    this.nodes.set(key, node);
    if (this.app.selection.has(key)) node.classList.add('selected');
    if (this.invalid?.key === key) this.flagInvalid(node);
    return node;
  }

  placeItem(node, track, it) {
    node.style.setProperty('--t', it.t_ms);
    node.style.setProperty('--d', itemEnd(track, it) - it.t_ms);
    const spec = TRACKS.find((t) => t.key === track);
    node.title = this.invalid?.key === node.dataset.key ? this.invalid.message : `${spec.tip(it)} · ${fmtTime(it.t_ms)}${spec.span ? `–${fmtTime(it.end_ms)}` : ''}`;
    node.firstChild.textContent = spec.text(it);
  }

  itemNode(key) {
    return this.nodes.get(key) ?? null;
  }

  markSelection() {
    for (const node of this.content.querySelectorAll('.item.selected')) node.classList.remove('selected');
    for (const key of this.app.selection) this.itemNode(key)?.classList.add('selected');
  }

  /** Mark the item a validation error names (or clear the mark with a null key). */
  markInvalid(key, message) {
    for (const node of this.content.querySelectorAll('.item.invalid')) {
      node.classList.remove('invalid');
      node.removeAttribute('aria-invalid');
      node.removeAttribute('data-error');
    }
    this.invalid = key ? { key, message } : null;
    const node = key ? this.itemNode(key) : null;
    if (node) this.flagInvalid(node);
  }

  flagInvalid(node) {
    node.classList.add('invalid');
    node.setAttribute('aria-invalid', 'true');
    node.dataset.error = this.invalid.message;
    node.title = this.invalid.message;
  }

  /** Bring an item into view (a validation error found off screen, a selection by keyboard). */
  reveal(key) {
    const { track, index } = parseKey(key);
    const it = this.app.doc.tracks[track][index];
    if (!it) return;
    const x = this.xOf(it.t_ms);
    const { scrollLeft, clientWidth } = this.scroll;
    if (x < scrollLeft || x > scrollLeft + clientWidth - 40) this.scroll.scrollLeft = Math.max(0, x - clientWidth / 3);
    this.onScroll();
  }

  refreshItems(keys) {
    for (const key of keys) {
      const { track, index } = parseKey(key);
      const node = this.itemNode(key);
      if (node) this.placeItem(node, track, this.app.doc.tracks[track][index]);
    }
  }

  // -- input ------------------------------------------------------------------------------

  onRulerDown(e) {
    e.preventDefault();
    e.stopPropagation();
    this.ruler.setPointerCapture(e.pointerId);
    const seek = (ev) => this.app.seek(Math.max(0, this.timeAt(ev.clientX)));
    seek(e);
    const move = (ev) => seek(ev);
    const up = () => {
      this.ruler.removeEventListener('pointermove', move);
      this.ruler.removeEventListener('pointerup', up);
    };
    this.ruler.addEventListener('pointermove', move);
    this.ruler.addEventListener('pointerup', up);
  }

  onDoubleClick(e) {
    const lane = e.target.closest('.lane');
    if (!lane || !lane.dataset.track || e.target.closest('.item:not(.ghost)')) return;
    this.app.add(lane.dataset.track, this.timeAt(e.clientX));
  }

  onPointerDown(e) {
    if (e.button !== 0) return;
    const node = e.target.closest('.item:not(.ghost)');
    if (!node) {
      if (e.target.closest('.lane')) this.app.select([]);
      return;
    }
    e.preventDefault();
    const key = node.dataset.key;
    const sel = this.app.selection;
    if (e.shiftKey || e.ctrlKey || e.metaKey) {
      const next = new Set(sel);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      this.app.select([...next]);
      return;
    }
    if (!sel.has(key)) this.app.select([key]);
    const resizing = e.target.classList.contains('grip');
    const doc = this.app.doc;
    const keys = resizing ? [key] : [...this.app.selection];
    this.drag = {
      key,
      resizing,
      startX: e.clientX,
      started: false,
      keys,
      origin: keys.map((k) => {
        const { track, index } = parseKey(k);
        const it = doc.tracks[track][index];
        return { track, index, t_ms: it.t_ms, end_ms: it.end_ms, end: itemEnd(track, it) };
      }),
    };
    // Captured by the axis, not the item: the item's element may be rebuilt while it is dragged.
    const target = this.content;
    target.setPointerCapture(e.pointerId);
    const move = (ev) => this.onDragMove(ev);
    const up = (ev) => {
      target.removeEventListener('pointermove', move);
      target.removeEventListener('pointerup', up);
      target.removeEventListener('pointercancel', up);
      this.onDragEnd(ev);
    };
    target.addEventListener('pointermove', move);
    target.addEventListener('pointerup', up);
    target.addEventListener('pointercancel', up);
  }

  snap(t, altKey) {
    if (altKey) return Math.round(t);
    return snapTime(t, { words: this.app.doc.tracks.words, fps: this.app.fps, tolMs: SNAP_PX / this.zoom });
  }

  onDragMove(e) {
    const d = this.drag;
    if (!d) return;
    const dx = e.clientX - d.startX;
    if (!d.started) {
      if (Math.abs(dx) < DRAG_START_PX) return;
      d.started = true;
      this.app.beginEdit();
      this.root.classList.add('dragging');
    }
    const primary = d.origin.find((o) => keyOf(o.track, o.index) === d.key);
    if (d.resizing) {
      resizeItem(this.app.doc, primary.track, primary.index, this.snap(primary.end + dx / this.zoom, e.altKey));
    } else {
      const t = this.snap(primary.t_ms + dx / this.zoom, e.altKey);
      moveItems(this.app.doc, d.origin, t - primary.t_ms);
    }
    this.refreshItems(d.keys);
    this.app.dragged?.(d.keys);
  }

  onDragEnd() {
    const d = this.drag;
    this.drag = null;
    this.root.classList.remove('dragging');
    if (d && d.started) this.app.edited();
  }
}
