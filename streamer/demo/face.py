"""The demo character's head shape, skin shading, ears, nose, cheeks and brows (pure, no I/O)."""

from __future__ import annotations

import functools
import math

import numpy as np

from streamer.demo.body import neck_outline
from streamer.demo.geometry import Geometry, smooth
from streamer.demo.palette import (
    BLUSH,
    BROW,
    LINE,
    OUTLINE,
    SKIN,
    SKIN_DEEP,
    SKIN_LIGHT,
    SKIN_SHADE,
    THIN,
)
from streamer.demo.params import FaceParams
from streamer.demo.raster import Canvas, Mask, Path, Points, Raster, catmull_rom, ellipse, frozen, mix, pts


def face_outline(p: FaceParams) -> Points:
    """The face, head-local; the chin drops with the jaw as the mouth opens."""
    return _face_outline(p.mouth_open)


@functools.lru_cache(maxsize=64)
def _face_outline(mouth_open: float) -> Points:
    right = pts(
        [
            (0.0, -0.318),
            (0.13, -0.298),
            (0.207, -0.215),
            (0.229, -0.09),
            (0.229, 0.03),
            (0.216, 0.112),
            (0.182, 0.19),
            (0.122, 0.249),
            (0.052, 0.279),
        ]
    )
    left = np.stack([-right[:0:-1, 0], right[:0:-1, 1]], axis=1)
    ctrl = np.concatenate([right, pts([(0.0, 0.286)]), left], axis=0)
    ctrl[:, 1] += mouth_open * 0.024 * np.clip((ctrl[:, 1] - 0.08) / 0.2, 0.0, 1.0)
    return frozen(catmull_rom(ctrl, closed=True, n=12))


def draw_ear(cv: Canvas, ras: Raster, g: Geometry, p: FaceParams, side: float) -> None:
    """One ear (drawn before the face, which overlaps it)."""
    cx, cy = side * 0.236, 0.066 + p.ear_dy
    ear = g.head(ellipse(cx, cy, 0.041, 0.058, side * 12, n=64), warp=False)
    em = ras.fill(ear)
    cv.paint(em, SKIN)
    inner = g.head(ellipse(cx + side * 0.006, cy + 0.002, 0.02, 0.034, side * 14, n=48), warp=False)
    cv.paint(ras.fill(inner).blurred(g.px(0.003), g.width, g.height).clip(em), SKIN_SHADE, 0.9)
    fold = (
        Path((cx + side * 0.004, cy - 0.028))
        .quad((cx + side * 0.026, cy - 0.012), (cx + side * 0.012, cy + 0.022))
        .points()
    )
    fw = g.px(THIN) * np.sin(np.linspace(0.2, math.pi - 0.24, len(fold)))
    cv.paint(ras.stroke(g.head(fold, warp=False), fw), SKIN_DEEP)
    cv.paint(ras.stroke(ear, g.px(LINE), closed=True), OUTLINE)


def draw_chin_shadow(cv: Canvas, ras: Raster, g: Geometry, face_m: Mask) -> None:
    """The head's shadow on the neck; it follows the head as it moves."""
    neck_m = ras.fill(g.world(neck_outline()))
    chin = g.head(face_outline(g.p), extra_dy=0.042)
    shadow = ras.fill(chin).blurred(g.px(0.003), g.width, g.height).clip(neck_m).cut(face_m)
    cv.paint(shadow, mix(SKIN_SHADE, SKIN_DEEP, 0.35), 0.95)


def draw_skin(cv: Canvas, ras: Raster, g: Geometry, face_m: Mask, fringe_shadow: Mask) -> None:
    """The face's fill and form shading (light from the upper left) and the fringe's shadow."""
    cv.paint(face_m, SKIN)
    lit = g.head(face_outline(g.p) * np.asarray([0.94, 0.97]) + np.asarray([-0.022, -0.012]))
    cv.paint(face_m.cut(ras.fill(lit).blurred(g.px(0.004), g.width, g.height)), SKIN_SHADE, 0.8)
    cv.paint(fringe_shadow.clip(face_m), SKIN_SHADE, 0.85)


def draw_blush(cv: Canvas, ras: Raster, g: Geometry, p: FaceParams) -> None:
    """Rosy cheeks; strong blush adds the little hatch marks."""
    if p.blush <= 0.01:
        return
    hatch = min(1.0, max(0.0, (p.blush - 0.45) / 0.5))
    for sgn in (1.0, -1.0):
        cheek = g.head(ellipse(sgn * 0.152, 0.128, 0.052, 0.03, n=48))
        cv.paint(ras.fill(cheek).blurred(g.px(0.014), g.width, g.height), BLUSH, 0.6 * p.blush)
        if hatch > 0:
            for k in range(3):
                bx = sgn * (0.130 + 0.018 * k)
                line = g.head(pts([(bx + 0.006, 0.116), (bx - 0.006, 0.138)]))
                cv.paint(ras.stroke(line, g.px(0.0032)), SKIN_DEEP, 0.75 * hatch)


def draw_nose(cv: Canvas, ras: Raster, g: Geometry) -> None:
    """A small button nose: a soft shade, one hooked line and a highlight."""
    tip = g.head(ellipse(0.0, 0.118, 0.02, 0.013, n=40))
    cv.paint(ras.fill(tip).blurred(g.px(0.008), g.width, g.height), SKIN_SHADE, 0.55)
    hook = Path((0.010, 0.104)).quad((0.020, 0.124), (0.002, 0.131), n=14).points()
    w = g.px(0.0058) * np.sin(np.linspace(0.25, math.pi - 0.2, len(hook)))
    cv.paint(ras.stroke(g.head(hook), w), SKIN_DEEP)
    cv.paint(ras.fill(g.head(ellipse(-0.008, 0.106, 0.005, 0.004, n=24))), SKIN_LIGHT, 0.9)


def draw_brow(cv: Canvas, ras: Raster, g: Geometry, p: FaceParams, side: float) -> None:
    """One brow: a tapered arch, thick at the inner end; it lifts, tilts and knits."""
    u = np.linspace(-1.0, 1.0, 24)  # inner .. outer
    half = 0.052
    cx = side * (0.102 - 0.012 * p.brow_knit)
    cy = -0.040 - p.brow_height
    x = cx + side * u * half
    y = cy - 0.013 * (1 - u * u) + 0.004 * u + math.tan(math.radians(p.brow_angle)) * u * half
    w = g.px(0.017) * (1.0 - 0.62 * smooth((u + 1) / 2)) * np.clip((u + 1.08) / 0.25, 0.35, 1.0)
    cv.paint(ras.stroke(g.head(np.stack([x, y], axis=1)), w), BROW)
