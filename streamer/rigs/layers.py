"""``streamer rig from-layers``: a rig composed from drawn layers, PNGTuber style (does I/O).

The layers folder (every PNG the same size, transparent where it draws nothing)::

    body.png              optional: below everything, never moved by head poses
    base.png              required: the head (and anything that moves with it), no face parts
    eyes/{value}.png      one per value of the rig's ``eyes`` axis     e.g. eyes/blink_closed.png
    brows/{value}.png     one per value of ``brows``                  e.g. brows/raise.png
    mouth/{value}.png     one per value of ``mouth``                  e.g. mouth/ah.png
    front.png             optional: over the face parts (a fringe over the brows), moves with the head
    poses/{pose}/...      optional: the same names drawn by the artist for one head pose; files
                          it lacks are taken from the top level as they are (not transformed)
    rig.json              optional: axes, expressions, poses, base_paths (default: face_rig's)

Layers stack in that order. An axis folder may be missing altogether (that part is drawn
on ``base.png``); a missing value falls back to the nearest that exists (:data:`FALLBACKS`,
then the axis's first value) and the mapping is reported. Head poses without a drawn
``poses/{pose}`` folder are made by a small transform of the head layers: a rotation about
the neck pivot for tilts, a shift for nods (:data:`POSE_TRANSFORMS`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from streamer.core.errors import RigError, StreamerError
from streamer.core.rig import RigConfig, parse_rig_config
from streamer.rigs.files import image_problem
from streamer.rigs.tween import Progress, tween_rig

AXES_ORDER = ("eyes", "brows", "mouth")  # stacking order of the face parts
PIVOT = (0.5, 0.62)  # the neck, as fractions of width and height

# Nearest shapes to try, in order, before the axis's first value.
FALLBACKS: Mapping[str, tuple[str, ...]] = {
    "smile_big": ("smile_soft",),
    "smile_soft": ("smile_big",),
    "ah": ("ee", "uw"),
    "ee": ("ah",),
    "uw": ("ah",),
    "frown": (),
    "wide": (),
    "squint": ("blink_closed",),
    "blink_closed": ("squint",),
    "raise": (),
    "furrow": (),
}


@dataclass(frozen=True)
class PoseTransform:
    """Degrees of rotation about the pivot (positive: counter-clockwise) and a shift (fractions of the size)."""

    degrees: float = 0.0
    dx: float = 0.0
    dy: float = 0.0


POSE_TRANSFORMS: Mapping[str, PoseTransform] = {
    "center": PoseTransform(),
    "tilt_left_small": PoseTransform(degrees=4.0),
    "tilt_right_small": PoseTransform(degrees=-4.0),
    "nod_down_small": PoseTransform(dy=0.012),
    "nod_up_small": PoseTransform(dy=-0.012),
}


@dataclass
class LayerReport:
    """What the rig was made of: fallbacks used and poses drawn or transformed."""

    fallbacks: dict[str, str] = field(default_factory=dict)  # "mouth/smile_big" -> "mouth/smile_soft"
    drawn_poses: list[str] = field(default_factory=list)
    transformed_poses: list[str] = field(default_factory=list)
    endpoints: int = 0


def _default_config(name: str) -> dict[str, Any]:
    from streamer.demo.spec import RIG_SPEC

    return {"name": name, **json.loads(json.dumps(RIG_SPEC))}


def load_config(layers: Path) -> tuple[RigConfig, dict[str, Any]]:
    path = layers / "rig.json"
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RigError([f"{path}: cannot read JSON: {exc}"]) from exc
    else:
        doc = _default_config(layers.resolve().name)
    return parse_rig_config(doc), doc


def _check_layers(layers: Path) -> tuple[int, int]:
    """The size of ``base.png``; :class:`RigError` listing unreadable layers and layers of other sizes."""
    base = layers / "base.png"
    problem = image_problem(base)
    if problem is not None:
        raise RigError([f"{base}: {problem} (the head layer base.png is required)"])
    with Image.open(base) as img:
        size = img.size
    problems = []
    for path in sorted(layers.rglob("*.png")):
        reason = image_problem(path)
        if reason is not None:
            problems.append(f"layer {path.relative_to(layers)}: {reason}")
            continue
        with Image.open(path) as img:
            if img.size != size:
                problems.append(
                    f"layer {path.relative_to(layers)}: size {img.size[0]}x{img.size[1]} differs from "
                    f"base.png's {size[0]}x{size[1]} (every layer must be the full canvas)"
                )
    if problems:
        raise RigError(problems)
    return size


def resolve_parts(layers: Path, config: RigConfig, report: LayerReport) -> dict[tuple[str, str], str | None]:
    """Which file draws each (axis, value): its own, the nearest that exists, or None (on base.png)."""
    parts: dict[tuple[str, str], str | None] = {}
    for axis in AXES_ORDER:
        values = config.axes.get(axis, ())
        folder = layers / axis
        if not folder.is_dir():
            parts.update({(axis, v): None for v in values})
            continue
        have = {p.stem for p in folder.glob("*.png")}
        if values and values[0] not in have:
            raise RigError([f"layer {axis}/{values[0]}.png is missing (the {axis} shape the others fall back on)"])
        for value in values:
            choice = next((c for c in (value, *FALLBACKS.get(value, ()), values[0]) if c in have), None)
            if choice is None:
                raise RigError(
                    [f"layer {axis}/{value}.png is missing and so is {axis}/{values[0]}.png to fall back on"]
                )
            if choice != value:
                report.fallbacks[f"{axis}/{value}"] = f"{axis}/{choice}"
            parts[(axis, value)] = f"{axis}/{choice}.png"
    return parts


def _open(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGBA")


def transform(img: Image.Image, move: PoseTransform) -> Image.Image:
    w, h = img.size
    pivot = (PIVOT[0] * w, PIVOT[1] * h)
    out = img.rotate(move.degrees, resample=Image.Resampling.BICUBIC, center=pivot) if move.degrees else img
    if move.dx or move.dy:
        shift = (round(move.dx * w), round(move.dy * h))
        moved = Image.new("RGBA", img.size, (0, 0, 0, 0))
        moved.alpha_composite(
            out, dest=(max(0, shift[0]), max(0, shift[1])), source=(max(0, -shift[0]), max(0, -shift[1]))
        )
        out = moved
    return out


def compose(
    layers: Path, config: RigConfig, expr: str, pose: str, parts: Mapping[tuple[str, str], str | None]
) -> Image.Image:
    """One endpoint image: body, then the head layers (drawn for ``pose`` or transformed to it)."""
    drawn = layers / "poses" / pose
    values = config.expressions[expr]
    names = ["base.png"] + [p for a in AXES_ORDER if (p := parts.get((a, values.get(a, "")))) is not None]
    names.append("front.png")
    head: Image.Image | None = None
    for name in names:
        own = drawn / name
        if own.is_file():
            layer = _open(own)
        elif (layers / name).is_file():
            layer = _open(layers / name)
            if not drawn.is_dir():
                layer = transform(layer, POSE_TRANSFORMS.get(pose, PoseTransform()))
        else:
            continue
        head = layer if head is None else Image.alpha_composite(head, layer)
    assert head is not None
    body = layers / "body.png"
    return Image.alpha_composite(_open(body), head) if body.is_file() else head


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise StreamerError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / "rig.json").is_file() and not (out / "expressions.json").is_file():
            raise StreamerError(f"{out}: not empty and not a rig; choose an empty or new folder")
        if not overwrite:
            raise StreamerError(f"{out}: already holds a rig; pass --overwrite to replace it")


def build_from_layers(
    layers: Path,
    out: Path,
    *,
    overwrite: bool = False,
    tween: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
) -> LayerReport:
    """Compose every endpoint of the rig from ``layers`` into ``out`` (then its in-betweens), as :func:`write_rig`."""

    if not layers.is_dir():
        raise StreamerError(f"{layers}: no such layers folder")
    _check_target(out, overwrite)
    config, doc = load_config(layers)
    size = _check_layers(layers)
    report = LayerReport()
    parts = resolve_parts(layers, config, report)
    for pose in config.poses:
        if (layers / "poses" / pose).is_dir():
            report.drawn_poses.append(pose)
        elif pose in POSE_TRANSFORMS:
            report.transformed_poses.append(pose)
        else:
            raise RigError([f"pose {pose!r}: no poses/{pose}/ folder and no built-in transform for it"])
    doc = {**doc, "size": [size[0], size[1]]}
    images = (
        (f"{expr}__{pose}", compose(layers, config, expr, pose, parts))
        for expr in config.expressions
        for pose in config.poses
    )
    report.endpoints = write_rig(out, doc, images, overwrite=overwrite, tween=tween, workers=workers, progress=progress)
    return report


def write_rig(
    out: Path,
    doc: Mapping[str, Any],
    endpoints: Iterable[tuple[str, Image.Image]],
    *,
    overwrite: bool = False,
    tween: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Write ``rig.json`` and the ``(name, image)`` endpoints to ``out`` (then the in-betweens); their count.

    The rig is built in a hidden sibling folder and renamed into place: a failure leaves any
    previous rig in ``out`` as it was.
    """
    _check_target(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "endpoints").mkdir(parents=True)
    count = 0
    try:
        (tmp / "rig.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        for name, image in endpoints:
            image.save(tmp / "endpoints" / f"{name}.png", format="PNG", compress_level=1)
            count += 1
        if tween:
            result = tween_rig(tmp, workers=workers, progress=progress)
            if result.failed:
                raise RigError([f"sequence {k}: {v}" for k, v in sorted(result.failed.items())])
        _check_target(out, overwrite)
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return count
