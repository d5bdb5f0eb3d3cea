"""`streamer rig tween`: motion-aware in-betweens from endpoints, and the path to a working rig."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from streamer.cli import main
from streamer.rigs.files import read_rgba
from streamer.rigs.interp import crossfade, difference_mask, tween
from tests.authoring.conftest import DEMO_SEQUENCES

FRAMES = Path(__file__).resolve().parents[2] / "frames"


def disc(cx: float, size: tuple[int, int] = (96, 64), r: float = 10) -> np.ndarray:
    """A red disc on transparency, anti-aliased."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    alpha = np.clip(r + 0.5 - np.hypot(xx - cx, yy - h / 2), 0, 1)
    img = np.zeros((h, w, 4), np.uint8)
    img[..., 0] = 220
    img[..., 3] = np.rint(alpha * 255).astype(np.uint8)
    return img


def centroid_x(img: np.ndarray) -> float:
    alpha = img[..., 3].astype(float)
    return float((alpha * np.arange(img.shape[1])).sum() / alpha.sum())


def test_a_moving_shape_moves_instead_of_fading() -> None:
    size = (192, 128)
    a, b = disc(80, size, 16), disc(100, size, 16)
    mid, faded = tween(a, b, [0.5])[0], crossfade(a, b, 0.5)
    assert abs(centroid_x(mid) - 90) < 1

    def solid_and_ghost(img: np.ndarray) -> tuple[int, int]:
        row = img[64, :, 3]
        return int((row > 200).sum()), int(((row > 40) & (row < 200)).sum())

    # A cross-fade shows the overlap solid and two half-transparent crescents; the flow moves the disc.
    (solid, ghost), (faded_solid, faded_ghost) = solid_and_ghost(mid), solid_and_ghost(faded)
    assert faded_solid <= 12 and faded_ghost >= 40
    assert solid >= faded_solid + 6 and ghost <= faded_ghost - 6


def test_alpha_stays_clean_on_transparency() -> None:
    mid = tween(disc(40), disc(52), [0.25, 0.5, 0.75])
    for img in mid:
        visible = img[..., 3] > 8
        assert (img[visible][:, 0] > 200).all(), "no dark fringes: colour is un-premultiplied"
        assert (img[..., 3] == 0).mean() > 0.8


def test_change_is_kept_to_where_the_endpoints_differ() -> None:
    a = read_rgba(FRAMES / "endpoints/neutral__center.png")
    b = read_rgba(FRAMES / "endpoints/speaking_ah__center.png")
    early, late = tween(a, b, [0.25, 0.75])
    differs = difference_mask(a, b)  # visibly: palette quantisation differs a little everywhere
    ys, xs = np.nonzero(differs)
    far = np.ones(differs.shape, bool)
    far[max(0, ys.min() - 60) : ys.max() + 60, max(0, xs.min() - 60) : xs.max() + 60] = False
    assert far.mean() > 0.5
    # hair, clothes and outline far from the mouth are the nearer endpoint's pixels, untouched
    assert (early[far] == a[far]).all() and (late[far] == b[far]).all()
    assert (early[~far] != a[~far]).any()


def test_beats_a_cross_fade_against_the_drawn_in_betweens() -> None:
    from benchmarks.tween import regions_of, scores

    for path in ("neutral_to_speaking_ah__center", "speaking_ah_to_surprised__center"):
        manifest = json.loads((FRAMES / "sequences" / path / "manifest.json").read_text())
        a = read_rgba(FRAMES / f"endpoints/{manifest['expr_start']}__center.png")
        b = read_rgba(FRAMES / f"endpoints/{manifest['expr_end']}__center.png")
        regions = regions_of(a, b)
        eased = [t * t * (3 - 2 * t) for t in (0.25, 0.5, 0.75)]  # where the demo draws its frames
        for t, made, item in zip(eased, tween(a, b, eased), manifest["frames"], strict=True):
            truth = read_rgba(FRAMES / "sequences" / path / item["file"])
            ours, fade = scores(made, truth, regions), scores(crossfade(a, b, t), truth, regions)
            assert ours["ssim_changed"] > fade["ssim_changed"] + 0.03
            assert ours["ssim_box"] > fade["ssim_box"]


def test_endpoints_alone_to_a_rig_that_speaks(
    fresh_rig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    av = pytest.importorskip("av")
    assert main(["rig", "tween", str(fresh_rig), "--workers", "2"]) == 0
    captured = capsys.readouterr()
    assert f"made {DEMO_SEQUENCES} sequences ({3 * DEMO_SEQUENCES} frames)" in captured.out
    assert f"{DEMO_SEQUENCES}/{DEMO_SEQUENCES}" in captured.err, "a progress bar"
    manifest = json.loads((fresh_rig / "sequences/neutral_to_speaking_ah__center/manifest.json").read_text())
    assert manifest == {
        "path_id": "neutral_to_speaking_ah",
        "expr_start": "neutral",
        "expr_end": "speaking_ah",
        "pose": "center",
        "frames": [{"t": 0.25, "file": "025.png"}, {"t": 0.5, "file": "050.png"}, {"t": 0.75, "file": "075.png"}],
    }
    pose = json.loads((fresh_rig / "sequences/neutral_center_to_neutral_nod_up_small/manifest.json").read_text())
    assert (pose["pose_start"], pose["pose_end"]) == ("center", "nod_up_small")
    assert not list(fresh_rig.rglob(".*")), "no temporary files left"

    assert main(["rig", "check", str(fresh_rig)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ok"

    out = tmp_path / "x.mp4"
    assert main(["say", "Hello there, how are you?", "-o", str(out), "--rig", str(fresh_rig), "--fps", "12", "-q"]) == 0
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert frames[0].shape[:2] == (192, 128)
    mouths = {f[120:150, 44:84].tobytes() for f in frames}
    assert len(mouths) > 5, "the mouth moves"


def test_a_rerun_keeps_what_exists_and_redo_remakes(fresh_rig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = json.loads((fresh_rig / "rig.json").read_text())
    config["base_paths"] = config["base_paths"][:2]
    config["poses"] = config["poses"][:2]
    (fresh_rig / "rig.json").write_text(json.dumps(config))
    assert main(["rig", "tween", str(fresh_rig), "-q", "--workers", "1", "--frames", "2"]) == 0
    assert "made 5 sequences (10 frames)" in capsys.readouterr().out
    frame = fresh_rig / "sequences/neutral_to_speaking_ah__center/033.png"
    stamp = frame.stat().st_mtime_ns
    assert main(["rig", "tween", str(fresh_rig), "-q", "--workers", "1"]) == 0
    assert "made 0 sequences (0 frames) in" in capsys.readouterr().out
    assert frame.stat().st_mtime_ns == stamp
    assert main(["rig", "tween", str(fresh_rig), "-q", "--workers", "1", "--redo"]) == 0
    assert "made 5 sequences (15 frames)" in capsys.readouterr().out
    assert sorted(p.name for p in frame.parent.iterdir()) == ["025.png", "050.png", "075.png", "manifest.json"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("text", "error: endpoints/happy_soft__center.png: not an image"),
        ("half", "error: endpoints/happy_soft__center.png: unreadable or half-written image"),
        ("size", "error: endpoints/happy_soft__center.png: size 64x96 differs from the rig's 128x192"),
        ("missing", "error: endpoints/happy_soft__center.png: missing"),
    ],
)
def test_bad_endpoints_are_one_error_line_and_nothing_is_written(
    fresh_rig: Path, capsys: pytest.CaptureFixture[str], damage: str, message: str
) -> None:
    path = fresh_rig / "endpoints/happy_soft__center.png"
    if damage == "text":
        path.write_text("hello")
    elif damage == "half":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "size":
        Image.open(path).resize((64, 96)).save(path)
    else:
        path.unlink()
    assert main(["rig", "tween", str(fresh_rig), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message), err
    assert not (fresh_rig / "sequences").exists()


def test_a_folder_that_is_not_a_rig(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rig", "tween", str(tmp_path), "-q"]) == 1
    assert (
        capsys.readouterr().err.strip() == f"error: {tmp_path}: no rig.json or expressions.json (is this a rig folder?)"
    )


def test_rig_sheet_lays_out_endpoints_and_film_strips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sheet.png"
    assert main(["rig", "sheet", str(FRAMES), "-o", str(out), "--cell-width", "64"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    with Image.open(out) as sheet:
        assert sheet.width == 5 * 64  # one column per pose
        endpoints_only = sheet.height
    assert main(["rig", "sheet", str(FRAMES), "-o", str(out), "--cell-width", "64", "--sequences"]) == 0
    with Image.open(out) as sheet:
        assert sheet.height > endpoints_only * 5, "a film strip per sequence below the endpoints"
    assert main(["rig", "sheet", str(tmp_path / "nope"), "-o", str(out)]) == 1
    assert capsys.readouterr().err.strip().endswith("nope: not a folder")
