"""The demo character's eyes: lids, eyeball, iris, catch lights, lashes and crease (pure, no I/O).

The eye opening is the region between an upper and a lower lid curve. Closing, squinting and
widening only move those curves, so every in-between value is a plausible eye.
"""

from __future__ import annotations

import math

import numpy as np

from streamer.demo.geometry import FloatArray, Geometry, smooth
from streamer.demo.palette import (
    CATCH_LIGHT,
    EYE_SHADE,
    EYE_WHITE,
    IRIS_DARK,
    IRIS_LIGHT,
    LASH,
    OUTLINE,
    PUPIL,
    SKIN_DEEP,
)
from streamer.demo.params import FaceParams
from streamer.demo.raster import Canvas, Path, Raster, ellipse, pts

EYE_Y = 0.045
EYE_X = 0.099  # centre of each eye from the face's mid line
EYE_HALF_WIDTH = 0.064


def lid_curves(p: FaceParams) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """u (-1 inner corner .. 1 outer corner), upper lid y, lower lid y, and the open upper lid y."""
    u = np.linspace(-1.0, 1.0, 41)
    cy = EYE_Y
    bulge = np.clip(1 - u * u, 0, 1)
    top = 0.052 * (1 + 0.28 * p.eye_wide)
    bottom = 0.046 * (1 + 0.12 * p.eye_wide)
    corner = 0.004 * u  # the outer corner sits a touch lower: a gentle, friendly eye
    up_open = cy + corner - top * np.power(bulge, 0.55) - 0.004 * u
    lo_open = cy + corner + bottom * np.power(bulge, 0.85)
    closed = cy + corner + 0.017 * np.power(bulge, 0.7)  # a relaxed closed lid sags
    squint_lo = cy + corner + 0.004 - 0.024 * np.power(bulge, 0.6)  # cheeks push the lid up
    lid = min(1.0, p.eyelid_upper + 0.14 * p.eye_squint * (1 - p.eyelid_upper))
    up = up_open + (closed - up_open) * lid
    lo = lo_open + (squint_lo - lo_open) * p.eye_squint
    lo = lo + (closed - lo) * p.eyelid_upper
    return u, up, np.maximum(lo, up), up_open


def draw_eye(cv: Canvas, ras: Raster, g: Geometry, p: FaceParams, side: float) -> None:
    """One eye; ``side`` is 1 for the eye on the viewer's right, -1 for the left."""
    u, up, lo, up_open = lid_curves(p)
    cx = side * EYE_X
    x = cx + side * u * EYE_HALF_WIDTH
    upper = np.stack([x, up], axis=1)
    lower = np.stack([x, lo], axis=1)
    open_m = ras.fill(g.head(np.concatenate([upper, lower[::-1]], axis=0)))
    cv.paint(open_m, EYE_WHITE)
    band = np.concatenate([upper, np.stack([x, up + 0.03], axis=1)[::-1]], axis=0)
    lid_shadow = ras.fill(g.head(band)).blurred(g.px(0.006), g.width, g.height)
    cv.paint(lid_shadow.clip(open_m), EYE_SHADE, 0.9)

    r = 0.047 * (1 - 0.1 * p.eye_wide)
    icx, icy = cx - side * 0.002, 0.050
    iris = g.head(ellipse(icx, icy, r, r * 1.04, n=72))
    iris_m = ras.fill(iris).clip(open_m)
    ends = g.head(pts([(icx, icy - r), (icx, icy + r)]))
    cv.paint(iris_m, cv.linear(iris_m, (ends[0, 0], ends[0, 1]), (ends[1, 0], ends[1, 1]), IRIS_DARK, IRIS_LIGHT))
    glow = g.head(ellipse(icx, icy + r * 0.45, r * 0.62, r * 0.38, n=48))
    cv.paint(ras.fill(glow).blurred(g.px(0.007), g.width, g.height).clip(iris_m), IRIS_LIGHT, 0.7)
    pr = r * 0.46 * (1 - 0.22 * p.eye_wide)
    cv.paint(ras.fill(g.head(ellipse(icx, icy + 0.002, pr, pr * 1.08, n=48))).clip(open_m), PUPIL)
    cv.paint(ras.stroke(iris, g.px(0.0035), closed=True).clip(open_m), IRIS_DARK)
    band = np.concatenate([upper, np.stack([x, up + 0.016], axis=1)[::-1]], axis=0)
    cv.paint(ras.fill(g.head(band)).blurred(g.px(0.005), g.width, g.height).clip(iris_m), IRIS_DARK, 0.55)
    # catch lights sit on the same side in both eyes: one light source
    big = g.head(ellipse(icx - 0.017, icy - 0.017, 0.0135, 0.0145, n=40))
    cv.paint(ras.fill(big).clip(open_m), CATCH_LIGHT)
    small = g.head(ellipse(icx + 0.017, icy + 0.02, 0.0062, 0.0062, n=32))
    cv.paint(ras.fill(small).clip(open_m), CATCH_LIGHT, 0.9)

    # lash line: heavy, thinning towards the inner corner, with a flick at the outer corner
    lash_w = g.px(0.0125) * (0.35 + 0.65 * smooth((u + 1.0) / 1.2))
    cv.paint(ras.stroke(g.head(upper), lash_w), LASH)
    ox, oy = float(x[-1]), float(up[-1])
    flick = (
        Path((ox - side * 0.004, oy))
        .quad((ox + side * 0.014, oy - 0.004), (ox + side * 0.022, oy - 0.016), n=10)
        .points()
    )
    cv.paint(ras.stroke(g.head(flick), g.px(0.0095) * np.linspace(1.0, 0.15, len(flick))), LASH)

    sel = u > -0.2 - 0.6 * p.eye_squint
    lw = g.px(0.0042 + 0.0012 * p.eye_squint) * np.sin(np.linspace(0.15, math.pi - 0.15, int(sel.sum())))
    cv.paint(
        ras.stroke(g.head(lower[sel] + np.asarray([0.0, 0.002])), lw),
        OUTLINE,
        (0.55 + 0.4 * p.eye_squint) * (1 - p.eyelid_upper),
    )

    sel = (u > -0.55) & (u < 0.85)
    crease = np.stack([x[sel], up_open[sel] - 0.017 - 0.004 * p.eye_wide], axis=1)
    cw = g.px(0.0035) * np.sin(np.linspace(0.1, math.pi - 0.1, len(crease)))
    cv.paint(ras.stroke(g.head(crease), cw), SKIN_DEEP, 0.8)
