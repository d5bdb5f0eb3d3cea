"""The preview page plays a timeline with its audio, frames following the audio clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamer.settings import Settings
from tests.browser.conftest import LiveServer, ScheduleKeys, free_port


def test_preview_frames_follow_the_audio_clock(live_server: LiveServer, page: Any, tmp_path: Path) -> None:
    schedule = live_server.get_json("/timelines/hello/schedule")
    timeline = live_server.get_json("/timelines/hello")
    doc = timeline.get("timeline", timeline)
    audio_offset_ms = int((doc.get("audio") or {}).get("offset_ms", 0))
    keys = ScheduleKeys(schedule["changes"])

    page.goto(f"{live_server.url}/client/preview.html?channel=sync-test")
    page.wait_for_function("window.__streamer && window.__streamer.frameOnScreen !== null", timeout=15_000)
    page.wait_for_selector("#timeline option[value='hello']", state="attached", timeout=10_000)
    page.select_option("#timeline", "hello")
    page.wait_for_function("!document.getElementById('play').disabled", timeout=10_000)
    page.click("#play")

    page.wait_for_function("window.__streamer.stats.master === 'audio'", timeout=10_000)
    page.screenshot(path=str(tmp_path / "preview-playing.png"))
    timeout = schedule["duration_ms"] + 10_000
    page.wait_for_function(
        "window.__streamer.stats.programId === null && window.__streamer.log.length > 0", timeout=timeout
    )
    log = page.evaluate("window.__streamer.log")

    samples = [s for s in log if s["programId"] is not None]
    assert len(samples) > 50, f"only {len(samples)} animation frames were drawn during audio playback"
    ratio, bad = keys.share_on_time(samples, audio_offset_ms)
    assert ratio >= 0.95, f"{ratio:.1%} of {len(samples)} frames within one frame of the audio; first misses: {bad[:5]}"
    assert not page.problems, page.problems


def test_preview_lists_rig_controls_and_timelines(live_server: LiveServer, page: Any) -> None:
    rig = live_server.get_json("/rig")
    page.goto(f"{live_server.url}/client/preview.html?channel=controls-test")
    page.wait_for_function("document.getElementById('conn').dataset.status === 'connected'", timeout=15_000)
    page.wait_for_selector("#exprs .chip", timeout=10_000)
    exprs = page.eval_on_selector_all("#exprs .chip", "els => els.map(e => e.dataset.name)")
    poses = page.eval_on_selector_all("#poses .chip", "els => els.map(e => e.dataset.name)")
    assert exprs == list(rig["expressions"])
    assert poses == list(rig["poses"])

    target = next(e for e in exprs if e != "neutral")
    page.click(f"#exprs .chip[data-name='{target}']")
    page.wait_for_function(
        f"document.querySelector(\"#exprs .chip[data-name='{target}']\").classList.contains('active')", timeout=5_000
    )
    page.wait_for_function(f"(window.__streamer.frameOnScreen || '').includes('{target}__')", timeout=5_000)
    state = live_server.get_json("/channels/controls-test")["state"]
    assert state["expr"] == target
    assert not page.problems, page.problems


def test_a_late_joiner_starts_the_audio_where_the_program_is(live_server: LiveServer, page: Any) -> None:
    program = live_server.post_json("/channels/late-join/play", {"timeline_id": "hello"})
    assert program["audio"] is not None
    # Programs with audio start a little after the command (time to fetch it): join 1.5 s into it.
    now = live_server.get_json("/channels/late-join")["server_time_ms"]
    page.wait_for_timeout(program["start_ms"] - now + 1500)
    page.goto(f"{live_server.url}/client/obs.html?channel=late-join")
    page.wait_for_function("window.__streamer && window.__streamer.stats.master === 'audio'", timeout=10_000)
    page.wait_for_timeout(1000)
    stats = page.evaluate("window.__streamer.stats")
    assert stats["programId"] == program["id"]
    # Joined ~1.5 s in: the audio was started mid-file, on the server clock (not from 0).
    log = page.evaluate("window.__streamer.log")
    assert log[0]["audioMs"] > 1000, log[0]
    # The player seeks when the audio is over 500 ms off the shared clock and only nudges its rate
    # below that; how far a busy machine's start-up lands inside that band is timing, not behaviour.
    assert abs(stats["audioDriftMs"]) < 500, stats


# Headless Chromium never refuses autoplay, so this page gets the policy of a desktop browser:
# sound needs a user gesture (sticky activation), muted playback does not.
# (navigator.userActivation is already set under Playwright, so the page tracks gestures itself.)
AUTOPLAY_POLICY = """
let activated = false;
for (const type of ['pointerdown', 'keydown']) addEventListener(type, () => { activated = true; }, true);
const play = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () {
  if (!this.muted && !activated) {
    return Promise.reject(new DOMException('play() needs a user gesture', 'NotAllowedError'));
  }
  return play.call(this);
};
"""


def test_preview_offers_a_click_to_enable_audio_when_autoplay_is_refused(
    live_server: LiveServer, page: Any, tmp_path: Path
) -> None:
    page.add_init_script(AUTOPLAY_POLICY)
    page.goto(f"{live_server.url}/client/preview.html?channel=autoplay-test")
    page.wait_for_function("window.__streamer && window.__streamer.frameOnScreen !== null", timeout=15_000)
    live_server.post_json("/channels/autoplay-test/play", {"timeline_id": "hello"})

    page.wait_for_selector("#enable-audio", state="visible", timeout=5_000)
    # Meanwhile the audio plays muted, so frames still follow the audio clock.
    page.wait_for_function("window.__streamer.stats.master === 'audio'", timeout=5_000)
    assert page.evaluate("window.__streamer.stats.audioMuted") is True
    page.screenshot(path=str(tmp_path / "preview-audio-gate.png"))

    page.click("#enable-audio")
    page.wait_for_selector("#enable-audio", state="hidden", timeout=2_000)
    page.wait_for_function("window.__streamer.stats.audioMuted === false", timeout=2_000)
    assert page.evaluate("window.__streamer.stats.master") == "audio"
    assert not page.problems, page.problems


def test_preview_watches_without_the_token_and_controls_once_it_is_given(
    rig_dir: Path, tmp_path: Path, page: Any
) -> None:
    settings = Settings.from_env(
        {"STREAMER_FRAMES_DIR": str(rig_dir), "STREAMER_DATA_DIR": str(tmp_path / "data"), "STREAMER_TOKEN": "s3cret"}
    )
    server = LiveServer(settings, free_port())
    server.start()
    try:
        page.goto(f"{server.url}/client/preview.html?channel=main")
        # Refused as a controller (4001), the page still shows the character as a viewer.
        page.wait_for_function("window.__streamer && window.__streamer.frameOnScreen !== null", timeout=15_000)
        page.wait_for_function("document.querySelector('#conn .label').textContent.includes('view only')")
        assert page.is_disabled("#stop")

        page.fill("#token", "s3cret")
        page.click("#token-form button[type=submit]")
        page.wait_for_function("!document.getElementById('stop').disabled", timeout=10_000)
        pose = server.get_json("/rig")["poses"][-1]
        page.click(f"#poses .chip[data-name='{pose}']")
        page.wait_for_function(f"(window.__streamer.frameOnScreen || '').includes('{pose}')", timeout=5_000)
        assert page.evaluate("localStorage.getItem('streamer.token')") == "s3cret"
    finally:
        server.stop()
    uncaught = [p for p in page.problems if p.startswith("uncaught")]
    assert not uncaught, uncaught
