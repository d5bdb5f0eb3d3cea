"""`streamer rig from-layers`: a rig composed from drawn layers, then tweened, checked and speaking."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from streamer.cli import main
from streamer.rigs.files import read_rgba
from tests.authoring.conftest import DEMO_SEQUENCES, DEMO_STATES
from tests.authoring.layers import SIZE, make_layers


@pytest.fixture
def layers(tmp_path: Path) -> Path:
    return make_layers(tmp_path / "layers")


def test_layers_to_a_rig_that_speaks(layers: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    av = pytest.importorskip("av")
    rig = tmp_path / "rig"
    assert main(["rig", "from-layers", str(layers), "--out", str(rig), "--workers", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "mouth/smile_big.png missing: using mouth/smile_soft.png" in out
    assert "mouth/frown.png missing: using mouth/neutral.png" in out
    assert "eyes/squint.png missing: using eyes/blink_closed.png" in out
    assert "brows/furrow.png missing: using brows/neutral.png" in out
    assert "poses drawn: nod_up_small; transformed: center, tilt_left_small, tilt_right_small, nod_down_small" in out
    assert f"wrote {DEMO_STATES} endpoints to {rig}; check it with: streamer rig check {rig}" in out
    assert json.loads((rig / "rig.json").read_text())["size"] == list(SIZE)
    assert len(list((rig / "sequences").iterdir())) == DEMO_SEQUENCES

    assert main(["rig", "check", str(rig)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ok"
    video = tmp_path / "x.mp4"
    assert main(["say", "Hello, layers!", "-o", str(video), "--rig", str(rig), "--fps", "12", "-q"]) == 0
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len({f[88:112, 48:80].tobytes() for f in frames}) > 3, "the mouth moves"


def test_endpoints_are_the_layers_stacked_and_poses_move_the_head(layers: Path, tmp_path: Path) -> None:
    rig = tmp_path / "rig"
    assert main(["rig", "from-layers", str(layers), "--out", str(rig), "--no-tween", "-q"]) == 0
    assert not (rig / "sequences").exists()
    ah = read_rgba(rig / "endpoints/speaking_ah__center.png")
    assert tuple(ah[100, 64]) == (120, 30, 50, 255), "the ah mouth"
    assert tuple(ah[150, 64][:3]) == (40, 150, 140), "the body below"
    assert tuple(ah[45, 64][:3]) == (170, 85, 45), "the fringe over the brows"
    blink = read_rgba(rig / "endpoints/blink_closed__center.png")
    assert tuple(blink[70, 50][:3]) == (250, 220, 200) and tuple(blink[74, 50][:3]) == (40, 30, 30)
    center = read_rgba(rig / "endpoints/neutral__center.png")
    tilt = read_rgba(rig / "endpoints/neutral__tilt_left_small.png")
    nod = read_rgba(rig / "endpoints/neutral__nod_down_small.png")
    body = slice(140, 192)
    assert (tilt[body] == center[body]).all(), "the body stays"
    assert (tilt[:120] != center[:120]).any() and (nod[:120] != center[:120]).any()
    head_top = lambda img: int(np.argmax(img[:, 64, 3] > 0))  # noqa: E731
    assert head_top(nod) > head_top(center)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no_base", "base.png: missing (the head layer base.png is required)"),
        ("size", "layer mouth/ah.png: size 64x96 differs from base.png's 128x192"),
        ("half", "layer eyes/wide.png: unreadable or half-written image"),
        ("text", "layer brows/raise.png: not an image"),
        ("no_neutral", "layer mouth/neutral.png is missing (the mouth shape the others fall back on)"),
    ],
)
def test_bad_layers_are_one_error_line(
    layers: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str, message: str
) -> None:
    if damage == "no_base":
        (layers / "base.png").unlink()
    elif damage == "size":
        Image.open(layers / "mouth/ah.png").resize((64, 96)).save(layers / "mouth/ah.png")
    elif damage == "half":
        (layers / "eyes/wide.png").write_bytes((layers / "eyes/wide.png").read_bytes()[:120])
    elif damage == "text":
        (layers / "brows/raise.png").write_text("not a png")
    else:
        for name in ("neutral", "smile_soft"):
            (layers / f"mouth/{name}.png").unlink()
    assert main(["rig", "from-layers", str(layers), "--out", str(tmp_path / "rig"), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "rig").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rig")]


def test_an_existing_rig_is_kept_unless_overwrite(
    layers: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = tmp_path / "rig"
    assert main(["rig", "from-layers", str(layers), "--out", str(rig), "--no-tween", "-q"]) == 0
    before = (rig / "endpoints/neutral__center.png").read_bytes()
    capsys.readouterr()
    assert main(["rig", "from-layers", str(layers), "--out", str(rig), "--no-tween", "-q"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {rig}: already holds a rig; pass --overwrite to replace it"
    assert (rig / "endpoints/neutral__center.png").read_bytes() == before
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    assert main(["rig", "from-layers", str(layers), "--out", str(other), "--overwrite", "-q"]) == 2
    assert "not empty and not a rig" in capsys.readouterr().err
    assert (other / "todo.txt").read_text() == "mine"
    assert main(["rig", "from-layers", str(layers), "--out", str(rig), "--no-tween", "--overwrite", "-q"]) == 0
