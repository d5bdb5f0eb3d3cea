"""`streamer rig check` tells the truth: unreachable states and odd images fail, naming the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from streamer.cli import main
from tests.authoring.conftest import DEMO_STATES


def run_check(rig: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["rig", "check", str(rig)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_endpoints_alone_fail_and_name_rig_tween(fresh_rig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_check(fresh_rig, capsys)
    assert code == 1
    assert "ok" not in out.splitlines()
    assert f"routes: 0/{DEMO_STATES - 1} states reachable from neutral@center" in out
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert errors[0] == (
        f"error: neutral@tilt_left_small is unreachable from neutral@center; "
        f"make its in-betweens: streamer rig tween {fresh_rig}"
    )
    assert "happy_soft@center is unreachable" in err
    assert f"... and {DEMO_STATES - 1 - 12} more unreachable states" in err  # all but the start, 12 listed


def test_an_expression_no_base_path_reaches_says_to_add_one(
    fresh_rig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = json.loads((fresh_rig / "rig.json").read_text())
    config["base_paths"] = [p for p in config["base_paths"] if p["end"] != "concerned"]
    (fresh_rig / "rig.json").write_text(json.dumps(config))
    assert main(["rig", "tween", str(fresh_rig), "-q", "--workers", "1"]) == 0
    code, out, err = run_check(fresh_rig, capsys)
    assert code == 1
    cut = [e for e in config["expressions"] if e == "concerned" or e.startswith("concerned_")]  # its talking faces too
    assert f"routes: {DEMO_STATES - 1 - 5 * len(cut)}/{DEMO_STATES - 1}" in out
    assert (
        f"error: concerned@center is unreachable from neutral@center; no base path in rig.json leads to "
        f"'concerned': add one, then run streamer rig tween {fresh_rig}"
    ) in err.splitlines()


def test_images_of_another_size_and_broken_pngs_are_errors(fresh_rig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rig", "tween", str(fresh_rig), "-q", "--workers", "1"]) == 0
    assert run_check(fresh_rig, capsys)[0] == 0
    big = fresh_rig / "endpoints" / "happy_big__center.png"
    Image.open(big).resize((130, 192)).save(big)
    frame = fresh_rig / "sequences" / "neutral_to_blink__center" / "050.png"
    frame.write_bytes(frame.read_bytes()[:200])  # half-written
    code, _out, err = run_check(fresh_rig, capsys)
    assert code == 1
    lines = err.splitlines()
    assert "error: endpoints/happy_big__center.png: size 130x192 differs from the rig's 128x192" in lines
    assert any(
        line.startswith(
            "error: unreadable image sequences/neutral_to_blink__center/050.png: unreadable or half-written"
        )
        for line in lines
    ), err


def test_the_demo_rig_passes(capsys: pytest.CaptureFixture[str]) -> None:
    frames = Path(__file__).resolve().parents[2] / "frames"
    code, out, err = run_check(frames, capsys)
    assert (code, err) == (0, "")
    others = DEMO_STATES - 1
    assert out.splitlines()[-2:] == [f"routes: {others}/{others} states reachable from neutral@center", "ok"]
