"""The preview page's say box: a paragraph is said live, segment after segment, and Stop cuts it."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.browser.conftest import LiveServer

PARAGRAPH = (
    "Wow! I am so happy to see you, this is wonderful. Let me tell you about my day, it was long. "
    "First I woke up early; then I had breakfast. After that, I went for a walk in the park."
)


class PlannedFrames:
    """What the server plans for a channel, as an independent viewer receives it (on a thread)."""

    def __init__(self, live_server: LiveServer, channel: str) -> None:
        self.url = live_server.url.replace("http://", "ws://") + f"/ws?channel={channel}"
        self.frames: list[tuple[int, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.follow, daemon=True)
        self.thread.start()

    def follow(self) -> None:
        with connect(self.url) as ws:
            while not self.stop.is_set():
                try:
                    message = json.loads(ws.recv(timeout=0.2))
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return
                if message["type"] == "frames":  # the protocol's rule: replace from from_ms on
                    kept = [f for f in self.frames if f[0] < message["from_ms"]]
                    self.frames = kept + [(t, url) for t, url in message["frames"]]

    def around(self, t: float, ms: float) -> set[str]:
        """The frames planned on screen at some time within ``ms`` of ``t``."""
        shown = {url for ts, url in self.frames if t - ms <= ts <= t + ms}
        before = [url for ts, url in self.frames if ts <= t - ms]
        return shown | set(before[-1:])


def test_say_box_speaks_a_paragraph_live_without_gaps(live_server: LiveServer, page: Any) -> None:
    live_server.post_json("/channels/say-test/stop", {})  # the channel exists for the planned-frames viewer
    planned = PlannedFrames(live_server, "say-test")
    page.goto(f"{live_server.url}/client/preview.html?channel=say-test")
    page.wait_for_function("window.__streamer && window.__streamer.frameOnScreen !== null", timeout=15_000)
    page.wait_for_function("!document.getElementById('say').disabled", timeout=10_000)
    first_frame = page.evaluate("window.__streamer.frameOnScreen")

    page.fill("#say-text", PARAGRAPH)
    page.click("#say")
    # The first segment is heard, and frames follow the audio clock while it is.
    page.wait_for_function("window.__streamer.stats.master === 'audio'", timeout=10_000)
    program = live_server.get_json("/channels/say-test")["program"]
    assert program["stream"] and program["audio"] is None
    frames = set()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        frames.add(page.evaluate("window.__streamer.frameOnScreen"))
        time.sleep(0.05)
    assert len(frames - {first_frame}) >= 4, frames  # the mouth moves

    # Every segment is scheduled on the audio clock at the server's time for it; where the server
    # placed one right after another (synthesis kept up), the decoded audio meets without a gap.
    page.wait_for_function("window.__streamer.stats.programId === null", timeout=60_000)
    # The log is in the order decoding finished, which may differ from the segments' order.
    scheduled = sorted(page.evaluate("window.__streamer.speech"), key=lambda entry: entry["startMs"])
    assert len(scheduled) >= 4, scheduled
    back_to_back = 0
    for before, after in zip(scheduled, scheduled[1:], strict=False):
        if after["programId"] != before["programId"]:  # synthesis fell behind on a busy machine: a new program
            assert after["segment"] == 0
            continue
        assert after["segment"] == before["segment"] + 1
        server_gap_ms = after["startMs"] - before["startMs"]
        assert abs((after["ctxStart"] - before["ctxStart"]) * 1000 - server_gap_ms) < 1, "one clock for all"
        if server_gap_ms == before["durationMs"]:
            back_to_back += 1
            heard_ms = before["durationS"] * 1000
            assert abs(heard_ms - server_gap_ms) < 25, "it starts where the one before ends (Opus pads ~20 ms)"
    assert back_to_back >= 1, scheduled
    # Frames follow the voice: what was drawn while a segment was heard is the server's plan at that
    # moment of the audio, within one frame (42 ms at 24 fps), for 95 % of the frames drawn.
    planned.stop.set()
    planned.thread.join(5)
    log = page.evaluate("window.__streamer.speechLog")
    assert len(log) > 100
    on_time = sum(entry["url"] in planned.around(entry["heardMs"], 42) for entry in log)
    assert on_time >= 0.95 * len(log), (on_time, len(log))
    assert not page.is_disabled("#say")
    assert page.problems == []


def test_stop_interrupts_what_is_being_said(live_server: LiveServer, page: Any) -> None:
    page.goto(f"{live_server.url}/client/preview.html?channel=say-stop")
    page.wait_for_function("!document.getElementById('say').disabled", timeout=15_000)
    page.fill("#say-text", PARAGRAPH)
    page.click("#say")
    page.wait_for_function("window.__streamer.stats.master === 'audio'", timeout=10_000)
    page.click("#stop")
    page.wait_for_function(
        "window.__streamer.stats.programId === null && window.__streamer.stats.master === 'clock'", timeout=5_000
    )
    said = len(page.evaluate("window.__streamer.speech"))
    time.sleep(1.5)
    assert len(page.evaluate("window.__streamer.speech")) == said, "nothing more is said after Stop"
    assert live_server.get_json("/channels/say-stop")["program"] is None
    assert page.problems == []


def test_say_box_reports_errors(live_server: LiveServer, page: Any) -> None:
    page.goto(f"{live_server.url}/client/preview.html?channel=say-errors")
    page.wait_for_function("!document.getElementById('say').disabled", timeout=15_000)
    page.evaluate("document.getElementById('say-text').removeAttribute('maxlength')")
    page.fill("#say-text", "la " * 4000)
    page.click("#say")
    page.wait_for_selector(".toast.error", timeout=10_000)
    assert "text:" in page.inner_text(".toast.error")
    assert not page.is_disabled("#say")
