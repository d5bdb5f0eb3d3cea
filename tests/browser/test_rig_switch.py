"""The preview's character picker switches the channel's rig live; the canvas, chips and OBS viewers follow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from streamer.settings import Settings
from tests.browser.conftest import LiveServer, free_port
from tests.server.conftest import write_png_rig

SIZE = (64, 96)


@pytest.fixture(scope="module")
def rigs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rigs")
    write_png_rig(root / "tiny", SIZE)  # every frame a flat, distinct colour
    (root / "half-made").mkdir()  # skipped: no rig.json
    return root


@pytest.fixture(scope="module")
def rigs_server(rig_dir: Path, rigs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "STREAMER_FRAMES_DIR": str(rig_dir),
        "STREAMER_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "STREAMER_RIGS_DIR": str(rigs_dir),
    }
    server = LiveServer(Settings.from_env(env), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _on_screen(page: Any) -> str:
    return str(page.evaluate("window.__streamer.frameOnScreen"))


def _canvas_centre(page: Any) -> list[int]:
    return list(
        page.evaluate(
            """() => {
              const c = document.getElementById('character');
              return Array.from(c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data);
            }"""
        )
    )


def test_the_picker_switches_the_channel_rig_live(
    rigs_server: LiveServer, rigs_dir: Path, page: Any, browser: Any, tmp_path: Path
) -> None:
    rigs = {r["id"]: r for r in rigs_server.get_json("/rigs")["rigs"]}
    assert list(rigs) == ["default", "tiny"]
    page.goto(f"{rigs_server.url}/client/preview.html?channel=rig-switch")
    page.wait_for_function("document.getElementById('conn').dataset.status === 'connected'", timeout=15_000)
    page.wait_for_selector("#rig-card:not([hidden])", timeout=10_000)
    page.wait_for_function("(window.__streamer.frameOnScreen || '').startsWith('/frames/endpoints/')", timeout=10_000)
    assert page.eval_on_selector_all("#rig option", "els => els.map(e => e.value)") == ["default", "tiny"]
    assert page.input_value("#rig") == "default"
    assert (
        page.eval_on_selector_all("#exprs .chip", "els => els.map(e => e.dataset.name)")
        == rigs["default"]["expressions"]
    )
    # An OBS source on the same channel, watching only.
    obs = page.context.new_page()
    obs.goto(f"{rigs_server.url}/client/obs.html?channel=rig-switch")
    obs.wait_for_function("(window.__streamer.frameOnScreen || '').startsWith('/frames/endpoints/')", timeout=10_000)

    page.select_option("#rig", "tiny")
    page.wait_for_function("(window.__streamer.frameOnScreen || '').startsWith('/frames/rigs/tiny/')", timeout=10_000)
    assert page.evaluate(
        "[document.getElementById('character').width, document.getElementById('character').height]"
    ) == [*SIZE]
    page.wait_for_function(f"document.querySelectorAll('#exprs .chip').length === {len(rigs['tiny']['expressions'])}")
    assert (
        page.eval_on_selector_all("#exprs .chip", "els => els.map(e => e.dataset.name)") == rigs["tiny"]["expressions"]
    )
    # What the canvas shows is the tiny rig's file for the key on screen.
    key = _on_screen(page).removeprefix("/frames/rigs/tiny/")
    want = Image.open(rigs_dir / "tiny" / key).convert("RGBA").getpixel((SIZE[0] // 2, SIZE[1] // 2))
    got = _canvas_centre(page)
    assert all(abs(a - b) <= 3 for a, b in zip(got, want, strict=True)), (got, want, key)
    obs.wait_for_function("(window.__streamer.frameOnScreen || '').startsWith('/frames/rigs/tiny/')", timeout=10_000)
    assert rigs_server.get_json("/channels/rig-switch")["rig"] == "tiny"
    page.wait_for_timeout(300)
    page.screenshot(path=str(tmp_path / "preview-tiny-rig.png"))

    # The chips now drive the tiny rig.
    page.click("#exprs .chip[data-name='oh_round']")
    page.wait_for_function(
        "(window.__streamer.frameOnScreen || '').startsWith('/frames/rigs/tiny/endpoints/oh_round__')", timeout=10_000
    )
    # And back to the default character, at its own size.
    page.select_option("#rig", "default")
    page.wait_for_function(
        "/^\\/frames\\/(endpoints|sequences)\\//.test(window.__streamer.frameOnScreen || '')", timeout=10_000
    )
    width = rigs["default"]["size"][0] if rigs["default"]["size"] else None
    if width:
        page.wait_for_function(f"document.getElementById('character').width === {width}", timeout=5_000)
    assert page.input_value("#rig") == "default"
    assert not page.problems, page.problems
