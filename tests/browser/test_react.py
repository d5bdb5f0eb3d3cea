"""The preview page's react buttons: a nod and a held smile reach every viewer and come back."""

from __future__ import annotations

import time
from typing import Any

from tests.browser.conftest import LiveServer
from tests.browser.test_say import PlannedFrames


def wait_for(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_react_buttons_nod_and_smile_over_what_plays(live_server: LiveServer, page: Any) -> None:
    live_server.post_json("/channels/react-test/stop", {})
    planned = PlannedFrames(live_server, "react-test")
    try:
        page.goto(f"{live_server.url}/client/preview.html?channel=react-test")
        page.wait_for_function("!document.querySelector('[data-reaction=nod]').disabled", timeout=15_000)
        assert page.is_visible("[data-reaction=expression]"), "the rig has a happy expression"
        page.click("[data-reaction=nod]")
        wait_for(lambda: any("nod_down" in url for _, url in planned.frames))
        page.click("[data-reaction=expression]")
        wait_for(lambda: any("happy" in url for _, url in planned.frames))
        happy = [t for t, url in planned.frames if "endpoints/happy" in url]
        assert happy, "the smile shows whole on a silent face"
        wait_for(lambda: any(t > happy[0] + 1600 for t, _ in planned.frames))
        back = [url for t, url in planned.frames if t > happy[0] + 1600]
        assert back and not any("happy" in url or "nod_" in url for url in back), "and the face comes back"
        assert live_server.get_json("/channels/react-test")["state"]["expr"] == "neutral"
    finally:
        planned.stop.set()
