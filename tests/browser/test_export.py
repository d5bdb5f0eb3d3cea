"""Headless Chromium plays exported videos served by the app, and the preview page's Export button works."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any

import pytest

from streamer.export.formats import FORMATS
from tests.browser.conftest import LiveServer


def _export(server: LiveServer, fmt: str) -> dict[str, Any]:
    job = server.post_json("/exports", {"timeline_id": "hello", "options": {"format": fmt, "scale": 0.25}})
    deadline = time.monotonic() + 60
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
        job = server.get_json(f"/exports/{job['id']}")
    assert job["status"] == "done", job
    return job


PLAY = """async ([src, timeoutMs]) => {
  const v = document.createElement('video');
  v.muted = true;
  v.src = src;
  document.body.append(v);
  const shown = new Set();
  const count = (_, meta) => { shown.add(meta.mediaTime); v.requestVideoFrameCallback(count); };
  v.requestVideoFrameCallback(count);
  return await new Promise((resolve) => {
    const done = (extra) =>
      resolve({ t: v.currentTime, w: v.videoWidth, h: v.videoHeight, shown: shown.size, ...extra });
    v.onerror = () => done({ error: v.error ? `${v.error.code} ${v.error.message}` : 'error' });
    v.onended = () => done({ ended: true });
    v.play().catch((e) => done({ error: String(e) }));
    setTimeout(() => done({ timeout: true }), timeoutMs);
  });
}"""


@pytest.mark.parametrize("fmt", ["webm", "mp4"])
def test_chromium_plays_the_exported_video(live_server: LiveServer, page: Any, fmt: str) -> None:
    job = _export(live_server, fmt)
    schedule = live_server.get_json("/timelines/hello/schedule?fps=24")
    duration_s = schedule["duration_ms"] / 1000
    keys = schedule["frames"]
    assert job["progress"]["total"] == len(keys)
    # Held frames are left out of the file (variable frame rate): it has a frame per change.
    frames = 1 + sum(a != b for a, b in zip(keys, keys[1:], strict=False))
    assert frames < len(keys)
    page.goto(live_server.url + "/health")
    result = page.evaluate(PLAY, [f"{job['file']}?inline=1", int(duration_s * 1000) + 30_000])
    assert "error" not in result and result.get("ended"), result  # played to its end, not stalled
    assert result["t"] >= duration_s - 0.1, (result, duration_s)
    # Distinct frames the page presented: most of them (a busy machine may drop a few), not one.
    assert result["shown"] >= frames / 2, (result, frames)
    assert (result["w"], result["h"]) == (128, 192)
    # /health has no favicon: that 404 is the only console error allowed.
    assert [p for p in page.problems if "404" not in p] == []


def test_preview_export_button_shows_progress_and_a_download_link(live_server: LiveServer, page: Any) -> None:
    polls: list[str] = []
    job_url = re.compile(r"/exports/[0-9a-f]+(/|$)")  # a job, not the list of formats
    page.on("request", lambda r: polls.append(r.url) if r.method == "GET" and job_url.search(r.url) else None)
    page.goto(live_server.url + "/client/preview.html")
    page.wait_for_function("() => [...document.querySelectorAll('#timeline option')].some(o => o.value === 'hello')")
    page.select_option("#timeline", "hello")
    # The menu is built from GET /exports/formats: every format, labelled as the table says.
    page.wait_for_function("() => document.querySelectorAll('#export-format option').length > 0")
    shown = page.eval_on_selector_all("#export-format option", "os => os.map(o => [o.value, o.textContent])")
    assert shown == [[spec.name, spec.label] for spec in FORMATS.values()]
    page.select_option("#export-format", "webm")
    page.click("#export")
    page.wait_for_selector("#export-status:not([hidden])")
    page.wait_for_selector("#export-link:not([hidden])", timeout=60_000)
    href = page.get_attribute("#export-link", "href")
    assert href and href.startswith("/exports/") and href.endswith("/file")
    assert page.get_attribute("#export-link", "download") == "hello.webm"
    assert "Ready" in page.inner_text("#export-label")
    assert page.eval_on_selector("#export-bar", "el => el.style.width") == "100%"
    with urllib.request.urlopen(live_server.url + href, timeout=10) as res:
        assert res.headers["Content-Type"] == "video/webm"
        assert len(res.read()) > 1000
    job = live_server.get_json(href.removesuffix("/file"))
    assert json.dumps(job["options"]["format"]) == '"webm"'
    assert polls == [], polls  # progress came over the socket (watch_export), not by polling
    assert page.problems == []
