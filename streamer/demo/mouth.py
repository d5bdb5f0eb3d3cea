"""The demo character's mouth: one parametric opening for every shape, closed to wide (pure, no I/O).

The opening lies between an upper and a lower edge around a mid line whose corners lift with
the smile. With ``mouth_open`` at 0 the edges meet and only the outline remains: the closed
mouth line. Roundness narrows the corners and rounds the profile into an "oo".
"""

from __future__ import annotations

import math

import numpy as np

from streamer.demo.geometry import FloatArray, Geometry
from streamer.demo.palette import (
    LIPS,
    MOUTH,
    MOUTH_DEEP,
    OUTLINE,
    SKIN_DEEP,
    TEETH,
    TEETH_SHADE,
    TONGUE,
)
from streamer.demo.params import FaceParams
from streamer.demo.raster import Canvas, Path, Raster, ellipse, pts

MOUTH_Y = 0.192
MOUTH_HALF_WIDTH = 0.045


def mouth_curves(p: FaceParams) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """x, upper edge y, lower edge y and mid line y of the mouth (head-local units)."""
    u = np.linspace(-1.0, 1.0, 49)
    cy = MOUTH_Y + p.mouth_open * 0.006  # the jaw drops a little as it opens
    x = u * MOUTH_HALF_WIDTH * p.mouth_width
    lift = p.mouth_smile * 0.02 * (0.6 + 0.4 * p.mouth_width)
    mid = cy - lift * u * u
    height = p.mouth_open * 0.088
    smile = max(p.mouth_smile, 0.0)
    top_frac = 0.38 + 0.12 * p.mouth_round - 0.18 * smile * p.mouth_open
    # a flatter top and a rounder bottom: an open mouth reads as an upside-down egg
    p_up = 2.0 + 1.8 * (1 - p.mouth_round)
    p_lo = 2.0 + 0.5 * (1 - p.mouth_round)
    prof_up = np.power(np.clip(1 - np.abs(u) ** p_up, 0.0, 1.0), 1 / p_up)
    prof_lo = np.power(np.clip(1 - np.abs(u) ** p_lo, 0.0, 1.0), 1 / p_lo)
    up = mid - height * top_frac * prof_up + smile * p.mouth_open * 0.012 * (1 - u * u)
    lo = mid + height * (1 - top_frac) * prof_lo
    return x, up, lo, mid


def draw_mouth(cv: Canvas, ras: Raster, g: Geometry, p: FaceParams) -> None:
    """Lips (when puckered), the inside with teeth and tongue, the outline, corners, lower lip."""
    x, up, lo, mid = mouth_curves(p)
    upper = np.stack([x, up], axis=1)
    lower = np.stack([x, lo], axis=1)
    outline = g.head(np.concatenate([upper, lower[::-1][1:-1]], axis=0))
    pucker = min(1.0, max(0.0, (p.mouth_round - 0.5) * 2))
    if pucker > 0.01:
        cv.paint(ras.stroke(outline, g.px(0.018) * pucker, closed=True), LIPS, 0.8 * pucker)
    inner = ras.fill(outline)
    if not inner.is_empty():
        ends = g.head(pts([(0.0, float(up.min())), (0.0, float(lo.max()))]))
        cv.paint(inner, cv.linear(inner, (ends[0, 0], ends[0, 1]), (ends[1, 0], ends[1, 1]), MOUTH_DEEP, MOUTH))
        half = float(x.max())
        mid_lo = float(lo[len(lo) // 2])
        if p.tongue > 0.01:
            tongue = g.head(ellipse(0.004, mid_lo + 0.004, half * 0.62, 0.03 * (0.5 + p.mouth_open * 0.6), n=48))
            cv.paint(ras.fill(tongue).clip(inner), TONGUE, min(1.0, p.tongue))
        if p.teeth_upper > 0.01:
            th = 0.016 * p.teeth_upper
            band = np.concatenate([upper, np.stack([x, up + th], axis=1)[::-1]], axis=0)
            teeth = ras.fill(g.head(band)).clip(inner)
            cv.paint(teeth, TEETH)
            edge = g.head(np.stack([x * 0.9, up + th], axis=1))
            cv.paint(ras.stroke(edge, g.px(0.003)).clip(teeth), TEETH_SHADE)
        if p.teeth_lower > 0.01:
            th = 0.012 * p.teeth_lower
            band = np.concatenate([lower, np.stack([x, lo - th], axis=1)[::-1]], axis=0)
            cv.paint(ras.fill(g.head(band)).clip(inner), TEETH)

    # the outline tapers into the corners; a closed mouth is just this line
    t = np.abs(np.concatenate([x, x[::-1][1:-1]])) / max(float(np.abs(x).max()), 1e-6)
    cv.paint(ras.stroke(outline, g.px(0.0068) * (0.45 + 0.55 * (1 - t**3)), closed=True), OUTLINE)

    dimple = min(1.0, max(0.0, (p.mouth_smile - 0.5) * 2.5))
    if dimple > 0.01:
        for sgn in (1.0, -1.0):
            cx, cy = sgn * float(x.max()), float(mid[-1])
            tick = (
                Path((cx - sgn * 0.004, cy + 0.001))
                .quad((cx + sgn * 0.006, cy - 0.002), (cx + sgn * 0.009, cy + 0.009), n=8)
                .points()
            )
            tw = g.px(0.0042) * np.linspace(1.0, 0.2, len(tick))
            cv.paint(ras.stroke(g.head(tick), tw), OUTLINE, dimple * 0.8)

    lip_y = float(lo[len(lo) // 2]) + 0.017
    k = np.linspace(-1.0, 1.0, 9)
    lip = np.stack([0.014 * k, lip_y + 0.002 * k * k], axis=1)
    cv.paint(ras.stroke(g.head(lip), g.px(0.004) * np.sin(np.linspace(0.2, math.pi - 0.24, 9))), SKIN_DEEP, 0.5)
