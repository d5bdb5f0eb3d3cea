"""Viewers survive a server restart: they reconnect with backoff and resynchronise."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import LiveServer


def test_obs_page_reconnects_and_resyncs_after_a_server_restart(restartable_server: LiveServer, page: Any) -> None:
    server = restartable_server
    page.goto(f"{server.url}/client/obs.html?channel=main&audio=0")
    page.wait_for_function(
        "window.__streamer && window.__streamer.stats.connects === 1 && window.__streamer.frameOnScreen !== null",
        timeout=15_000,
    )

    server.stop()
    page.wait_for_function("window.__streamer.stats.connected === false", timeout=10_000)
    assert page.evaluate("window.__streamer.stats.connection") == "reconnecting"

    server.start()
    # Backoff starts at 0.5 s and doubles; the server was down for well under 10 s.
    page.wait_for_function("window.__streamer.stats.connects === 2", timeout=20_000)
    received = page.evaluate("window.__streamer.stats.framesMessages")
    page.wait_for_function(f"window.__streamer.stats.framesMessages > {received}", timeout=5_000)
    # The new server's clock started again near 0: the page's estimate must have been reset, not kept.
    page.wait_for_timeout(1000)  # the burst of clock samples after hello
    estimate = page.evaluate("performance.now() + window.__streamer.stats.clockOffsetMs")
    actual = server.get_json("/channels/main")["server_time_ms"]
    assert abs(estimate - actual) < 250, f"page thinks the server clock is {estimate:.0f} ms, it is {actual}"

    server.post_json("/channels/main/set", {"expr": "happy_big", "transition_ms": 0})
    page.wait_for_function("(window.__streamer.frameOnScreen || '').includes('happy_big__')", timeout=5_000)
    page_errors = [p for p in page.problems if p.startswith("uncaught")]
    assert not page_errors, page_errors
