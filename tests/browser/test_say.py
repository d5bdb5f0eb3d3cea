"""The preview page's say box: type a line, click Say, and the character speaks it with audio."""

from __future__ import annotations

import time
from typing import Any

from tests.browser.conftest import LiveServer


def test_say_box_makes_the_character_speak(live_server: LiveServer, page: Any) -> None:
    page.goto(f"{live_server.url}/client/preview.html?channel=say-test")
    page.wait_for_function("window.__streamer && window.__streamer.frameOnScreen !== null", timeout=15_000)
    page.wait_for_function("!document.getElementById('say').disabled", timeout=10_000)
    first_frame = page.evaluate("window.__streamer.frameOnScreen")

    page.fill("#say-text", "Wow! I am so happy to see you, this is wonderful.")
    with page.expect_response(lambda r: r.url.endswith("/speech")) as info:
        page.click("#say")
    response = info.value
    assert response.status == 201, response.text()
    body = response.json()
    assert "happy_big" in [k["expr"] for k in body["timeline"]["tracks"]["emotion"]]

    # The program starts, driven by its audio.
    page.wait_for_function(
        "window.__streamer.stats.programId !== null && window.__streamer.stats.master === 'audio'", timeout=10_000
    )
    assert page.evaluate("window.__streamer.stats.audioState") == "playing"
    frames = set()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        frames.add(page.evaluate("window.__streamer.frameOnScreen"))
        time.sleep(0.05)
    assert len(frames - {first_frame}) >= 4, frames  # the mouth moves
    program = live_server.get_json("/channels/say-test")["program"]
    assert program["timeline_id"] == body["timeline_id"]
    assert program["audio"]["url"] == f"/audio/{body['audio_id']}"

    # It plays to the end and the box is ready for the next line.
    page.wait_for_function("window.__streamer.stats.programId === null", timeout=body["duration_ms"] + 10_000)
    assert not page.is_disabled("#say")
    assert page.problems == []


def test_say_box_reports_errors(live_server: LiveServer, page: Any) -> None:
    page.goto(f"{live_server.url}/client/preview.html?channel=say-errors")
    page.wait_for_function("!document.getElementById('say').disabled", timeout=15_000)
    page.evaluate("document.getElementById('say-text').removeAttribute('maxlength')")
    page.fill("#say-text", "la " * 400)
    page.click("#say")
    page.wait_for_selector(".toast.error", timeout=10_000)
    assert "text:" in page.inner_text(".toast.error")
    assert not page.is_disabled("#say")
