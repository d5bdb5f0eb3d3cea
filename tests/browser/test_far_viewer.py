"""A viewer 150 ms away (each way) in headless Chromium: re-plans arrive in time, speech starts at its
first word and is never skipped or repeated, audio keeps to the server clock, frames never step back."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import LiveServer, ScheduleKeys
from tests.browser.delay_proxy import DelayProxy

ONE_WAY_MS = 150
ONE_FRAME_MS = 42  # at 24 fps


@pytest.fixture
def far(live_server: LiveServer) -> Iterator[DelayProxy]:
    proxy = DelayProxy(live_server.port, ONE_WAY_MS)  # pages, frames, audio and the socket all go through it
    yield proxy
    proxy.close()


def test_a_far_viewer_hears_every_word_in_sync_and_gets_every_replan_in_time(
    live_server: LiveServer, far: DelayProxy, page: Any
) -> None:
    channel = "far"
    live_server.post_json(f"/channels/{channel}/stop", {})
    page.goto(f"http://127.0.0.1:{far.port}/client/obs.html?channel={channel}&audio=1&label=0")
    page.wait_for_function("window.__streamer && window.__streamer.stats.framesDrawn > 0", timeout=15_000)
    # The page's pings report its round trip; the server sizes the lead of its re-plans with it.
    page.wait_for_function(f"window.__streamer.stats.rttMs >= {2 * ONE_WAY_MS}", timeout=10_000)
    page.wait_for_timeout(1500)

    program = live_server.post_json(f"/channels/{channel}/play", {"timeline_id": "hello"})
    page.wait_for_function(f"window.__streamer.stats.programId === {program['id']!r}", timeout=10_000)
    page.wait_for_function("window.__streamer.stats.master === 'audio'", timeout=10_000)
    drifts = []
    for _ in range(12):  # while it speaks, after the start has settled
        page.wait_for_timeout(250)
        drift = page.evaluate("window.__streamer.stats.audioDriftMs")
        if drift is not None:
            drifts.append(drift)
    live_server.post_json(f"/channels/{channel}/set", {"expr": "happy_big"})  # a re-plan mid-program
    page.wait_for_function(f"window.__streamer.stats.programId !== {program['id']!r}", timeout=10_000)
    page.wait_for_timeout(1000)

    debug = page.evaluate(
        "({log: window.__streamer.log, seeks: window.__streamer.audioSeeks, "
        "starts: window.__streamer.audioStarts, stats: window.__streamer.stats})"
    )
    stats, log = debug["stats"], [s for s in debug["log"] if s["programId"] == program["id"]]
    assert stats["framesLateOnArrival"] == 0, "every frame, re-plans included, arrived before its time"
    # Speech starts at its first word and plays through: no seek skipped or repeated any of it.
    mine = [s for s in debug["starts"] if s["programId"] == program["id"]]
    assert len(mine) == 1 and mine[0]["atS"] <= 0.02, debug["starts"]
    assert [s for s in debug["seeks"] if s["programId"] == program["id"]] == []
    # Once started, the audio keeps to the server clock within a frame.
    assert len(drifts) >= 8 and statistics.median(abs(d) for d in drifts) < ONE_FRAME_MS, drifts
    # Frames follow the audio forward only, and show the schedule at the time heard.
    times = [s["programMs"] for s in log]
    assert all(b >= a for a, b in zip(times, times[1:], strict=False)), "a frame stepped back"
    schedule = ScheduleKeys(live_server.get_json("/timelines/hello/schedule")["changes"])
    ratio, misses = schedule.share_on_time(log, 0)
    assert ratio >= 0.95, (ratio, misses)
    assert not page.problems, page.problems
