"""The Director page with a 10-minute timeline of ~7,000 items, in headless Chromium.

``python -m benchmarks.director``: starts the real server on a loopback port (the demo rig from
``frames/``, a scratch data folder), stores a synthetic 10-minute lip-sync timeline
(:func:`benchmarks.workloads.lipsync_timeline`) and opens ``/director?timeline=...``.

- tracks: from navigation start to the tracks drawn (ms, median);
- open: from navigation start to the tracks drawn and the first schedule resolved (ms; the first
  of ``--runs`` page loads also starts the server's resolver process, so it is reported apart
  and the median is of the others);
- frame times measured in the page with ``requestAnimationFrame``: idle (the baseline, same
  run), scrolling the axis by script one step per frame (far out at 0.005 px/ms, 10 minutes in
  about 3 screens, and at the editing zoom of 0.1 px/ms), and dragging a selection of every
  emotion item (~150) with the mouse; figures are the median and 95th percentile interval,
  the mean frame rate and the page's main-thread busy time per frame (Chromium's
  ``TaskDuration``: what the page costs, less sensitive to other load on the machine than the
  intervals); ratios are against idle.

Headless Chromium without a GPU on a shared machine: treat the figures as an upper bound of
what a desktop browser costs. The last line is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.workloads import lipsync_timeline
from streamer.settings import Settings
from tests.browser.conftest import CHROMIUM_ARGS, LiveServer, free_port

ROOT = Path(__file__).resolve().parent.parent
DURATION_MS = 10 * 60 * 1000

RECORD = """(ms) => new Promise((resolve) => {
  const times = [];
  const start = performance.now();
  const step = (t) => {
    times.push(t);
    if (t - start < ms) requestAnimationFrame(step);
    else resolve(times.slice(1).map((x, i) => x - times[i]));
  };
  requestAnimationFrame(step);
})"""

SCROLL = """(ms) => new Promise((resolve) => {
  const scroller = document.querySelector('.tl-scroll');
  const times = [];
  const start = performance.now();
  const step = (t) => {
    times.push(t);
    scroller.scrollLeft += 40;
    if (t - start < ms) requestAnimationFrame(step);
    else resolve(times.slice(1).map((x, i) => x - times[i]));
  };
  requestAnimationFrame(step);
})"""

START_RECORDING = """() => {
  window.__frames = [];
  window.__recording = true;
  let last = null;
  const step = (t) => {
    if (last !== null) window.__frames.push(t - last);
    last = t;
    if (window.__recording) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}"""


class MainThread:
    """The page's main-thread busy time (Chromium's TaskDuration): less sensitive to other load than frame times."""

    def __init__(self, page: Any) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Performance.enable")

    def busy_s(self) -> float:
        metrics = {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        return float(metrics["TaskDuration"])


def measured(main: MainThread, run: Any) -> dict[str, float]:
    """Frame figures of ``run()`` (which returns frame intervals) with the main thread's busy ms per frame."""
    before = main.busy_s()
    intervals = run()
    out = figures(intervals)
    out["busy_ms_per_frame"] = round((main.busy_s() - before) * 1000 / max(len(intervals), 1), 2)
    return out


def figures(intervals: list[float]) -> dict[str, float]:
    ordered = sorted(intervals)
    mean = statistics.fmean(ordered)
    return {
        "frames": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
        "fps": round(1000 / mean, 1),
    }


def store(server: LiveServer, timeline_id: str, doc: dict[str, Any]) -> None:
    req = urllib.request.Request(
        f"{server.url}/timelines/{timeline_id}",
        data=json.dumps(doc).encode(),
        headers={"Content-Type": "application/json"},
        method="PUT",
    )
    urllib.request.urlopen(req, timeout=30).close()


def open_ms(page: Any, url: str) -> tuple[float, float]:
    """(tracks drawn, first schedule in) in ms from navigation start."""
    page.goto(url)
    page.wait_for_function("window.__director && window.__director.app.changes.length > 0", timeout=60_000)
    return float(page.evaluate("window.__director.tracksAt")), float(page.evaluate("window.__director.resolvedAt"))


def drag(page: Any) -> list[float]:
    page.evaluate("window.__director.view.setZoom(0.1); window.__director.view.scroll.scrollLeft = 0")
    first = page.locator(".lane.track-emotion .item[data-key='emotion:1']")
    first.click()
    page.keyboard.press("Control+a")  # every emotion item
    box = first.bounding_box()
    x, y = box["x"] + 4, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.evaluate(START_RECORDING)
    for i in range(1, 121):
        page.mouse.move(x + (i % 60) * 4, y)
    page.mouse.up()
    page.evaluate("window.__recording = false")
    return list(page.evaluate("window.__frames"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="page loads to time (default 4)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    doc = lipsync_timeline(DURATION_MS)
    items = sum(len(v) for v in doc["tracks"].values())
    with tempfile.TemporaryDirectory() as data:
        settings = Settings.from_env({"STREAMER_FRAMES_DIR": str(ROOT / "frames"), "STREAMER_DATA_DIR": data})
        server = LiveServer(settings, free_port())
        server.start()
        try:
            store(server, "bench10", doc)
            url = f"{server.url}/director?timeline=bench10"
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                loads = [open_ms(page, url) for _ in range(args.runs)]
                tracks = [t for t, _ in loads]
                opens = [t for _, t in loads]
                nodes = page.locator(".item").count()
                main = MainThread(page)
                idle = measured(main, lambda: page.evaluate(RECORD, 2000))
                page.evaluate("window.__director.view.setZoom(0.005); window.__director.view.scroll.scrollLeft = 0")
                scroll_far = measured(main, lambda: page.evaluate(SCROLL, 3000))  # far out: 10 minutes in ~3 screens
                page.evaluate("window.__director.view.setZoom(0.1); window.__director.view.scroll.scrollLeft = 0")
                scroll = measured(main, lambda: page.evaluate(SCROLL, 3000))  # the editing zoom: ~10 s on screen
                dragging = measured(main, lambda: drag(page))
                browser.close()
        finally:
            server.stop()
    print(f"10-minute timeline: {items} items, {nodes} item elements")
    print(f"tracks drawn: {', '.join(f'{ms:.0f} ms' for ms in tracks)}")
    print(f"open: {', '.join(f'{ms:.0f} ms' for ms in opens)} (the first starts the server's resolver process)")
    for name, f in (("idle", idle), ("scroll far", scroll_far), ("scroll", scroll), ("drag", dragging)):
        spread = f"p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, max {f['max_ms']} ms"
        busy = f"main thread busy {f['busy_ms_per_frame']} ms a frame"
        print(f"{name:>10}: {spread}, {f['fps']} fps over {f['frames']} frames; {busy}")
    result = {
        "items": items,
        "item_elements": nodes,
        "tracks_ms": round(statistics.median(tracks)),
        "open_cold_ms": round(opens[0]),
        "open_ms": round(statistics.median(opens[1:] or opens)),
        "idle": idle,
        "scroll_far": scroll_far,
        "scroll": scroll,
        "drag": dragging,
        "scroll_fps_vs_idle": round(scroll["fps"] / idle["fps"], 2),
        "scroll_far_fps_vs_idle": round(scroll_far["fps"] / idle["fps"], 2),
        "drag_fps_vs_idle": round(dragging["fps"] / idle["fps"], 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
