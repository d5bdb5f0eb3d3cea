"""The procedurally drawn demo rig: layout, manifests, pixels, determinism, tweens and safety."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from streamer.demo import (
    RIG_SPEC,
    FaceParams,
    draw_frame,
    expression_params,
    interpolate,
    plan_rig,
    render,
    smoothstep,
    write_demo_rig,
)
from streamer.demo.png import encode_png
from streamer.demo.spec import FACE_RIG_SPEC, TALK_PATH_IDS, VARIANT_OF

SIZE = (96, 144)
TS = [0.25, 0.5, 0.75]
FILES = ["025.png", "050.png", "075.png"]
REFERENCE = Path(__file__).parent / "core" / "data" / "face_rig-expressions.json"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "rig"
    calls: list[tuple[int, int]] = []
    write_demo_rig(out, size=SIZE, progress=lambda done, total: calls.append((done, total)), workers=2)
    total = len(plan_rig(SIZE).frames)
    assert calls == [(i, total) for i in range(1, total + 1)]
    return out


def rgba(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGBA"), dtype=np.int16)


def frames_doc() -> list[dict[str, Any]]:
    return [{"t": t, "file": f} for t, f in zip(TS, FILES, strict=True)]


def test_rig_json_is_the_face_rig_layout_plus_speaking_emotions_name_and_size(rig: Path) -> None:
    doc = json.loads((rig / "rig.json").read_text())
    assert doc["name"] == "Pip"
    assert doc["size"] == list(SIZE)
    spec = {k: v for k, v in doc.items() if k not in ("name", "size")}
    assert spec == RIG_SPEC
    assert list(spec) == ["axes", "poses", "expressions", "base_paths"]
    assert json.loads(REFERENCE.read_text()) == FACE_RIG_SPEC
    # a drop-in for face_rig: its expressions and paths come first, unchanged
    face_rig = FACE_RIG_SPEC["expressions"]
    assert list(spec["expressions"])[: len(face_rig)] == list(face_rig)
    assert all(spec["expressions"][name] == axes for name, axes in face_rig.items())
    assert spec["base_paths"][: len(FACE_RIG_SPEC["base_paths"])] == FACE_RIG_SPEC["base_paths"]
    assert (rig / "rig.json").read_text().endswith("}\n")


def test_each_emotion_can_talk_with_its_own_eyes_and_brows() -> None:
    expressions = RIG_SPEC["expressions"]
    for emotion in ("happy_soft", "happy_big", "concerned", "surprised_ah"):
        upper = {k: v for k, v in expressions[emotion].items() if k != "mouth"}
        mouths = {a["mouth"] for a in expressions.values() if {k: v for k, v in a.items() if k != "mouth"} == upper}
        assert {"ah", "ee", "uw"} <= mouths, emotion
    assert len(VARIANT_OF) == 11


def test_writes_every_endpoint(rig: Path) -> None:
    expected = {f"{e}__{p}.png" for e in RIG_SPEC["expressions"] for p in RIG_SPEC["poses"]}
    assert len(expected) == 21 * 5
    assert {p.name for p in (rig / "endpoints").iterdir()} == expected


def test_writes_every_expression_sequence_with_its_tweens_and_a_manifest(rig: Path) -> None:
    count = 0
    for path in RIG_SPEC["base_paths"]:
        talking = path["id"] in TALK_PATH_IDS
        files, doc = (["050.png"], [{"t": 0.5, "file": "050.png"}]) if talking else (FILES, frames_doc())
        for pose in RIG_SPEC["poses"]:
            folder = rig / "sequences" / f"{path['id']}__{pose}"
            assert sorted(p.name for p in folder.iterdir()) == [*files, "manifest.json"]
            assert json.loads((folder / "manifest.json").read_text()) == {
                "path_id": path["id"],
                "expr_start": path["start"],
                "expr_end": path["end"],
                "pose": pose,
                "frames": doc,
            }
            count += 1
    assert count == len(RIG_SPEC["base_paths"]) * 5


def test_writes_head_pose_sequences_from_center_for_neutral_and_each_emotion(rig: Path) -> None:
    others = [p for p in RIG_SPEC["poses"] if p != "center"]
    assert len(others) == 4
    for expr in ("neutral", "happy_soft", "happy_big", "concerned", "surprised_ah"):
        for pose in others:
            folder = rig / "sequences" / f"{expr}_center_to_{expr}_{pose}"
            assert sorted(p.name for p in folder.iterdir()) == [*FILES, "manifest.json"]
            assert json.loads((folder / "manifest.json").read_text()) == {
                "path_id": f"{expr}_center_to_{expr}_{pose}",
                "expr_start": expr,
                "expr_end": expr,
                "pose_start": "center",
                "pose_end": pose,
                "frames": frames_doc(),
            }


def test_nothing_else_is_written(rig: Path) -> None:
    pngs = list(rig.rglob("*.png"))
    face_rig_paths = len(RIG_SPEC["base_paths"]) - len(TALK_PATH_IDS)
    assert len(pngs) == 21 * 5 + 3 * (face_rig_paths * 5 + 5 * 4) + 1 * len(TALK_PATH_IDS) * 5
    assert not list(rig.rglob("000.png")) and not list(rig.rglob("100.png"))
    assert not [p for p in rig.parent.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_frames_have_alpha_transparent_corners_and_an_opaque_centre(rig: Path) -> None:
    w, h = SIZE
    for path in sorted(rig.rglob("*.png"))[::7]:
        img = Image.open(path)
        assert img.size == SIZE
        assert img.has_transparency_data
        px = rgba(path)
        for x, y in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)]:
            assert px[y, x, 3] == 0, (path, x, y)
        # the face; a raised head puts the mouth here, whose layers round to 253-254 at this tiny size
        assert px[int(h * 0.55), w // 2, 3] >= 250
        assert px[h - 2, w // 2, 3] == 255  # the shirt


def test_drawing_is_deterministic_across_processes(rig: Path) -> None:
    plan = plan_rig(SIZE)
    for job in plan.frames[:: len(plan.frames) // 5]:
        assert draw_frame(job, SIZE) == (rig / job.key).read_bytes(), job.key


def test_tween_is_interpolated_motion_not_a_cross_fade(rig: Path) -> None:
    a = rgba(rig / "endpoints/neutral__center.png")
    b = rgba(rig / "endpoints/blink_closed__center.png")
    mid = rgba(rig / "sequences/neutral_to_blink__center/050.png")
    assert np.abs(mid - a).max() > 60 and np.abs(mid - b).max() > 60
    fade = (a + b) / 2
    far = (np.abs(mid - fade).max(axis=2) > 60).any(axis=1)
    assert far.sum() >= 2, "the half-blink looks like a cross-fade of the endpoints"


def test_head_pose_tween_moves_the_head_between_the_endpoints(rig: Path) -> None:
    def head_left_edge(path: Path) -> int:
        row = rgba(path)[int(SIZE[1] * 0.30), :, 3]
        return int(np.argmax(row > 0))

    start = head_left_edge(rig / "endpoints/neutral__center.png")
    mid = head_left_edge(rig / "sequences/neutral_center_to_neutral_tilt_left_small/050.png")
    end = head_left_edge(rig / "endpoints/neutral__tilt_left_small.png")
    assert end < start and end <= mid <= start


def test_interpolation_eases_in_and_out() -> None:
    a, b = expression_params("neutral"), expression_params("blink_closed")
    assert interpolate(a, b, 0.0) == a and interpolate(a, b, 1.0) == b
    assert interpolate(a, b, 0.5).eyelid_upper == pytest.approx(0.5)
    quarter = interpolate(a, b, 0.25).eyelid_upper
    assert quarter == pytest.approx(smoothstep(0.25)) and quarter < 0.25
    assert interpolate(a, b, 0.25, ease=False).eyelid_upper == pytest.approx(0.25)


def test_every_expression_and_pose_has_its_own_parameters() -> None:
    faces = {e: expression_params(e) for e in RIG_SPEC["expressions"]}
    assert len(set(faces.values())) == len(faces)
    poses = {p: expression_params("neutral", p) for p in RIG_SPEC["poses"]}
    assert len(set(poses.values())) == len(poses)
    assert faces["blink_closed"].eyelid_upper == 1.0
    assert faces["happy_big"].blush > faces["neutral"].blush
    assert faces["concerned"].mouth_smile < 0
    # talking keeps the emotion's cheeks and some of its smile or frown
    assert faces["happy_big_ee"].blush == faces["happy_big"].blush
    assert faces["happy_soft_ee"].mouth_smile > faces["speaking_ee"].mouth_smile > faces["concerned_ee"].mouth_smile
    assert faces["surprised_ee"].eye_wide == faces["surprised_ah"].eye_wide == 1.0
    with pytest.raises(KeyError, match="nope"):
        expression_params("nope")


def test_mouth_shapes_look_different() -> None:
    shapes = ["neutral", "speaking_ah", "speaking_ee", "speaking_uw", "happy_big", "concerned"]
    mouths = {}
    for name in shapes:
        px = np.asarray(render(expression_params(name), (192, 288)), dtype=np.int16)
        mouths[name] = px[160:215, 66:126]  # the mouth area
    for i, x in enumerate(shapes):
        for y in shapes[i + 1 :]:
            assert np.abs(mouths[x] - mouths[y]).max() > 80, (x, y)


@pytest.mark.parametrize("size", [(120, 120), (200, 240), (60, 90)])
def test_draws_at_other_sizes_and_aspects(size: tuple[int, int]) -> None:
    img = render(FaceParams(), size)
    assert img.size == size and img.mode == "RGBA"
    px = np.asarray(img)
    assert px[0, 0, 3] == 0 and px[0, -1, 3] == 0
    assert (px[..., 3] == 255).mean() > 0.2
    assert encode_png(img) == encode_png(render(FaceParams(), size))


def test_refuses_a_non_empty_folder_that_is_not_a_rig(tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        write_demo_rig(out, size=SIZE, workers=1)
    with pytest.raises(FileExistsError, match="not a rig"):
        write_demo_rig(out, size=SIZE, workers=1, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_failed_run_leaves_no_half_rig_and_keeps_the_old_one(rig: Path, tmp_path: Path) -> None:
    def boom(done: int, total: int) -> None:
        raise RuntimeError("stop")

    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        write_demo_rig(fresh, size=SIZE, progress=boom, workers=1)
    assert not fresh.exists()
    assert os.listdir(tmp_path) == []

    old = tmp_path / "old"
    old.mkdir()
    (old / "rig.json").write_bytes((rig / "rig.json").read_bytes())
    with pytest.raises(RuntimeError):
        write_demo_rig(old, size=SIZE, progress=boom, workers=1, overwrite=True)
    assert [p.name for p in old.iterdir()] == ["rig.json"]
    assert sorted(os.listdir(tmp_path)) == ["old"]


def test_an_empty_folder_is_filled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    # keep this one cheap: only a handful of frames
    plan = plan_rig(SIZE)
    small = type(plan)(frames=plan.frames[:3], documents=plan.documents[:1])
    monkeypatch.setattr("streamer.demo.build.plan_rig", lambda size: small)
    write_demo_rig(out, size=SIZE, workers=1)
    assert (out / "rig.json").is_file()
    assert len(list(out.rglob("*.png"))) == 3
