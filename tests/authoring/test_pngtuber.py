"""`streamer rig from-layers AVATAR.save`: a PNGTuber Plus avatar imported as a rig that checks and speaks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streamer.cli import main
from streamer.rigs.files import read_rgba
from tests.authoring.conftest import DEMO_STATES
from tests.authoring.pngtuber import (
    CLOSED_MOUTH,
    EYES_OPEN,
    EYES_SHUT,
    EYES_TALKING,
    HAT,
    OPEN_MOUTH,
    make_save,
    sprite,
)

# Where the fixture's parts land on the rig's canvas, (y, x): costume 1 spans x -48..48 and
# y -70..75 (hair top to body bottom), padded by 8 % of its 145 px height (12 px) on each side,
# so avatar (x, y) is pixel (y + 82, x + 60); the canvas is 120x169, made even: 120x170.
MOUTH = (97, 60)  # head centre (0, -10) + mouth (0, 25)
EYES = (62, 60)  # head centre + eyes (0, -10)
HAT_AT = (20, 60)  # in costume 2, whose hat (y -72..-48) makes the top 2 px higher


@pytest.fixture
def save(tmp_path: Path) -> Path:
    return make_save(tmp_path / "avatar" / "avatar.save")


def colour(img: np.ndarray, at: tuple[int, int]) -> tuple[int, ...]:
    return tuple(int(v) for v in img[at][:3])


def test_a_pngtuber_plus_avatar_becomes_a_rig_that_speaks(
    save: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    av = pytest.importorskip("av")
    rig = tmp_path / "rig"
    assert main(["rig", "from-layers", str(save), "--out", str(rig), "--workers", "2", "-q"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "PNGTuber Plus avatar: 8 sprites in costume 1"
    assert out[1].startswith("drawn as its talking/blinking state only (PNGTuber Plus has no other faces): happy_soft,")
    assert f"wrote {DEMO_STATES} endpoints to {rig}" in out[2]
    doc = json.loads((rig / "rig.json").read_text())
    assert doc["size"] == [120, 170] and doc["name"] == "avatar"

    neutral = read_rgba(rig / "endpoints/neutral__center.png")
    assert colour(neutral, MOUTH) == CLOSED_MOUTH and colour(neutral, EYES) == EYES_OPEN, "first strip frame"
    ah = read_rgba(rig / "endpoints/speaking_ah__center.png")
    assert colour(ah, MOUTH) == OPEN_MOUTH and colour(ah, EYES) == EYES_TALKING
    blink = read_rgba(rig / "endpoints/blink_closed__center.png")
    assert colour(blink, MOUTH) == CLOSED_MOUTH and colour(blink, EYES) == EYES_SHUT
    assert not (neutral[..., :3] == HAT).all(axis=2).any(), "the hat is in costume 2 only"
    assert (read_rgba(rig / "endpoints/happy_soft__center.png") == neutral).all()
    tilt = read_rgba(rig / "endpoints/neutral__tilt_left_small.png")
    assert (tilt != neutral).any() and tilt.shape == neutral.shape

    assert main(["rig", "check", str(rig)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ok"
    video = tmp_path / "x.mp4"
    assert main(["say", "Hello, avatar!", "-o", str(video), "--rig", str(rig), "--fps", "12", "-q"]) == 0
    with av.open(str(video)) as container:
        mouths = [f.to_ndarray(format="rgb24")[MOUTH].astype(int) for f in container.decode(video=0)]

    def shown(rgb: tuple[int, int, int]) -> int:
        return sum(int(np.abs(m - rgb).max() <= 12) for m in mouths)  # decoded colours, within a tolerance

    assert shown(OPEN_MOUTH) >= 1 and shown(CLOSED_MOUTH) >= 2, "the mouth opens and closes again"


def test_another_costume_and_the_sprites_hidden_with_their_parent(save: Path, tmp_path: Path) -> None:
    rig = tmp_path / "rig"
    assert main(["rig", "from-layers", str(save), "--out", str(rig), "--costume", "2", "--no-tween", "-q"]) == 0
    neutral = read_rgba(rig / "endpoints/neutral__center.png")
    assert colour(neutral, HAT_AT) == HAT
    assert not (rig / "sequences").exists()
    doc = json.loads(save.read_text())
    doc["8"]["costumeLayers"] = "[0, 0, 1, 1, 1, 1, 1, 1, 1, 1]"  # the hat leaves costume 2; its badge goes too
    save.write_text(json.dumps(doc))
    assert main(["rig", "from-layers", str(save), "--out", str(rig), "--costume", "2", "--overwrite", "-q"]) == 0
    assert not (read_rgba(rig / "endpoints/neutral__center.png")[..., :3] == 255).all(axis=2).any(), "no badge"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("text", "not a PNGTuber Plus save (cannot read JSON"),
        ("list", "not a PNGTuber Plus save (expected an object of sprites)"),
        ("image", "avatar.save: sprite 3 (user://avatar/44.png): imageData is not a readable PNG"),
        ("pos", "sprite 3 (user://avatar/44.png): pos: expected a position like 'Vector2(0, 0)', got '12'"),
        ("loop", "error: sprites 0, 1, 2, 3, 4, 5, 6, 7, 8, 9: their parentIds form a loop (no way to the root)"),
    ],
)
def test_a_bad_save_is_one_error_line_and_nothing_is_written(
    save: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str, message: str
) -> None:
    doc = json.loads(save.read_text())
    if damage == "text":
        save.write_bytes(b"\x89PNG not json")
    elif damage == "list":
        save.write_text(json.dumps([sprite(1, None, "", (0, 0))]))
    elif damage == "image":
        doc["3"]["imageData"] = "aGVsbG8="
        save.write_text(json.dumps(doc))
    elif damage == "pos":
        doc["3"]["pos"] = "12"
        save.write_text(json.dumps(doc))
    else:
        doc["0"]["parentId"] = doc["1"]["identification"]  # the body's parent is its own child, the head
        save.write_text(json.dumps(doc))
    assert main(["rig", "from-layers", str(save), "--out", str(tmp_path / "rig"), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "rig").exists()
