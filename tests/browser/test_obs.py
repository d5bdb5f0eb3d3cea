"""The OBS browser source page: the character on a transparent page, sized by URL parameters."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from tests.browser.conftest import LiveServer, ScheduleKeys


def test_obs_page_draws_the_character_on_a_transparent_background(
    live_server: LiveServer, page: Any, tmp_path: Path
) -> None:
    w, h = live_server.get_json("/rig")["size"]
    page.set_viewport_size({"width": w, "height": h})
    live_server.post_json("/channels/obs-test/stop", {})  # commanded: viewers of new channels wait
    page.goto(f"{live_server.url}/client/obs.html?channel=obs-test&audio=0")
    page.wait_for_function("window.__streamer && window.__streamer.stats.framesDrawn > 0", timeout=15_000)

    png = page.screenshot(omit_background=True)
    (tmp_path / "obs.png").write_bytes(png)
    shot = Image.open(io.BytesIO(png)).convert("RGBA")
    assert shot.size == (w, h)
    alpha = shot.getchannel("A")
    for corner in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)]:
        assert alpha.getpixel(corner) == 0, f"corner {corner} is not transparent"
    centre = [(w // 2 + dx, h // 2 + dy) for dx in (-8, 0, 8) for dy in (-8, 0, 8)]
    assert all(alpha.getpixel(p) == 255 for p in centre), "the character's face is not opaque at the centre"

    background = page.evaluate(
        "[getComputedStyle(document.documentElement).backgroundColor, getComputedStyle(document.body).backgroundColor]"
    )
    assert background == ["rgba(0, 0, 0, 0)", "rgba(0, 0, 0, 0)"]
    assert not page.problems, page.problems


def test_obs_page_scales_the_canvas_from_url_parameters(live_server: LiveServer, page: Any) -> None:
    w, h = live_server.get_json("/rig")["size"]
    live_server.post_json("/channels/obs-scale/stop", {})  # commanded: viewers of new channels wait
    page.goto(f"{live_server.url}/client/obs.html?channel=obs-scale&audio=0&scale=0.5")
    page.wait_for_function("window.__streamer && window.__streamer.stats.framesDrawn > 0", timeout=15_000)
    box = page.eval_on_selector("#character", "c => [c.width, c.height, c.clientWidth, c.clientHeight]")
    assert box == [w, h, round(w * 0.5), round(h * 0.5)]

    page.goto(f"{live_server.url}/client/obs.html?channel=obs-scale&audio=0&width=300&height=300")
    page.wait_for_function("window.__streamer && window.__streamer.stats.framesDrawn > 0", timeout=15_000)
    css = page.eval_on_selector("#character", "c => [c.clientWidth, c.clientHeight]")
    fit = min(300 / w, 300 / h)
    assert css == [round(w * fit), round(h * fit)]


def test_obs_page_resyncs_when_obs_shows_the_source_again(live_server: LiveServer, page: Any) -> None:
    live_server.post_json("/channels/obs-resync/stop", {})  # commanded: viewers of new channels wait
    page.goto(f"{live_server.url}/client/obs.html?channel=obs-resync&audio=0")
    page.wait_for_function("window.__streamer && window.__streamer.stats.rttMs !== null", timeout=15_000)
    sent = page.evaluate("window.__streamer.stats.framesMessages")
    page.evaluate(
        "window.dispatchEvent(new CustomEvent('obsSourceActiveChanged', {detail: {active: true}}));"
        "window.dispatchEvent(new CustomEvent('obsSourceVisibleChanged', {detail: {visible: true}}));"
    )
    # The resync re-samples the clock (a burst of pings) and keeps playing what the server pushes.
    page.wait_for_function(f"window.__streamer.stats.framesMessages > {sent}", timeout=5_000)
    assert page.evaluate("window.__streamer.stats.connection") == "connected"
    assert not page.problems, page.problems


def test_audio_offset_delays_the_frames_behind_the_audio_element(live_server: LiveServer, page: Any) -> None:
    schedule = ScheduleKeys(live_server.get_json("/timelines/hello/schedule")["changes"])
    doc = live_server.get_json("/timelines/hello")
    audio_offset_ms = int((doc.get("timeline", doc).get("audio") or {}).get("offset_ms", 0))
    live_server.post_json("/channels/obs-offset/stop", {})  # commanded: viewers of new channels wait
    page.goto(f"{live_server.url}/client/obs.html?channel=obs-offset&audio_offset_ms=400")
    page.wait_for_function("window.__streamer && window.__streamer.stats.framesDrawn > 0", timeout=15_000)
    live_server.post_json("/channels/obs-offset/play", {"timeline_id": "hello"})
    page.wait_for_function("window.__streamer.log.length > 60", timeout=15_000)
    # OBS plays the sound 400 ms after the element does: the frame drawn is the schedule's 400 ms
    # before the element's time, which is what the listener hears. (Samples from the element's
    # first 400 ms show the time before the program, which this timeline does not describe.)
    shift_ms = audio_offset_ms - 400
    log = page.evaluate("window.__streamer.log")
    samples = [s for s in log if s["programId"] is not None and s["audioMs"] + shift_ms >= 0]
    assert len(samples) > 30, f"only {len(samples)} frames drawn while the program was heard"
    ratio, misses = schedule.share_on_time(samples, shift_ms)
    assert ratio >= 0.95, f"{ratio:.1%} of {len(samples)} frames match the heard time; first misses: {misses}"
    assert not page.problems, page.problems


LABEL_SHOWN = "!document.getElementById('channel-label').hidden"


def test_a_channel_nobody_drove_yet_shows_its_name_until_it_is_driven(live_server: LiveServer, page: Any) -> None:
    page.goto(f"{live_server.url}/client/obs.html?channel=obs-typo&audio=0")
    page.wait_for_function(LABEL_SHOWN, timeout=15_000)
    assert page.text_content("#channel-label") == "channel obs-typo · waiting for a program"
    live_server.post_json("/channels/obs-typo/set", {"expr": "happy_soft"})
    page.wait_for_function("document.getElementById('channel-label').hidden", timeout=10_000)

    page.reload()  # a channel that was driven before: no label, even while it is idle again
    page.wait_for_function("window.__streamer && window.__streamer.stats.framesDrawn > 0", timeout=15_000)
    page.wait_for_timeout(500)
    assert page.eval_on_selector("#channel-label", "el => el.hidden")
    assert not page.problems, page.problems


def test_the_channel_label_can_be_turned_off(live_server: LiveServer, page: Any) -> None:
    live_server.post_json("/channels/obs-nolabel/stop", {})  # commanded: viewers of new channels wait
    page.goto(f"{live_server.url}/client/obs.html?channel=obs-nolabel&audio=0&label=0")
    page.wait_for_function("window.__streamer && window.__streamer.stats.framesDrawn > 0", timeout=15_000)
    page.wait_for_timeout(500)
    assert page.eval_on_selector("#channel-label", "el => el.hidden")
