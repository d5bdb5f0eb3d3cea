"""The demo character's neck, shirt and collar: shapes and a per-size cached layer (pure, no I/O)."""

from __future__ import annotations

import functools
import math

import numpy as np

from streamer.demo.geometry import Geometry, mirror_world
from streamer.demo.palette import (
    COLLAR,
    COLLAR_SHADE,
    LINE,
    OUTLINE,
    SHIRT,
    SHIRT_LIGHT,
    SHIRT_SHADE,
    SKIN,
    SKIN_SHADE,
    STAR,
    STAR_SHADE,
    THIN,
)
from streamer.demo.params import FaceParams
from streamer.demo.raster import Canvas, Path, Points, Raster, catmull_rom, frozen, pts


@functools.cache
def neck_outline() -> Points:
    """The neck, in world units; its top hides under the head in every pose."""
    neck = (
        Path((0.42, 0.72))
        .line((0.58, 0.72))
        .cubic((0.576, 0.88), (0.578, 0.99), (0.59, 1.05))
        .cubic((0.60, 1.09), (0.62, 1.12), (0.66, 1.14))
        .line((0.34, 1.14))
        .cubic((0.38, 1.12), (0.40, 1.09), (0.41, 1.05))
        .cubic((0.422, 0.99), (0.424, 0.88), (0.42, 0.72))
        .points()
    )
    return frozen(neck)


def _shirt_outline() -> Points:
    right = (
        Path((0.5, 1.125))
        .cubic((0.54, 1.125), (0.575, 1.10), (0.595, 1.075))
        .cubic((0.68, 1.10), (0.80, 1.13), (0.85, 1.17))
        .cubic((0.91, 1.21), (0.925, 1.30), (0.93, 1.38))
        .line((0.94, 1.56))
        .line((0.5, 1.56))
        .points()
    )
    return np.concatenate([right, mirror_world(right)[::-1][1:-1]], axis=0)


def _collar_flap() -> Points:
    """The right half of a rounded (Peter Pan) collar."""
    return (
        Path((0.5, 1.128))
        .cubic((0.545, 1.127), (0.578, 1.104), (0.598, 1.072))
        .cubic((0.640, 1.080), (0.672, 1.105), (0.668, 1.140))
        .cubic((0.662, 1.185), (0.600, 1.205), (0.555, 1.196))
        .cubic((0.525, 1.190), (0.506, 1.165), (0.5, 1.128))
        .points()
    )


def _fold(reach: float) -> Points:
    """The shaded side of the shirt towards the right arm."""
    return (
        Path((0.955, 1.16))
        .cubic((0.93, 1.22), (0.96 - reach, 1.30), (0.955 - reach, 1.42))
        .quad((0.955 - reach * 1.1, 1.50), (0.945 - reach, 1.56))
        .line((0.96, 1.56))
        .points()
    )


def _shoulder_light() -> Points:
    """Light along the top of the left shoulder."""
    return Path((0.36, 1.125)).quad((0.22, 1.13), (0.14, 1.20)).quad((0.24, 1.16), (0.36, 1.125)).points()


def _star(cx: float, cy: float, r: float, rot: float = -8.0) -> Points:
    corners = []
    for i in range(10):
        a = math.radians(rot - 90 + i * 36)
        rr = r if i % 2 == 0 else r * 0.48
        corners.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return catmull_rom(pts(corners), closed=True, n=6)  # softly rounded points


@functools.lru_cache(maxsize=4)
def body_layer(width: int, height: int, supersample: int) -> Canvas:
    """The neck, shirt and collar, which never move: drawn once per size and process."""
    g = Geometry(FaceParams(), width, height)
    ras = Raster(width, height, supersample)
    cv = Canvas(width, height)
    lw = g.px(LINE)
    soft = g.px(0.0015)  # cel shading with a barely softened edge: clean look, small files

    neck = g.world(neck_outline())
    neck_m = ras.fill(neck)
    cv.paint(neck_m, SKIN)
    side = g.world(pts([(0.548, 0.80), (0.60, 0.80), (0.62, 1.14), (0.535, 1.14), (0.552, 1.0)]))
    cv.paint(ras.fill(side).blurred(soft, width, height).clip(neck_m), SKIN_SHADE, 0.9)
    cv.paint(ras.stroke(neck[2:-1], lw), OUTLINE)

    shirt = g.world(_shirt_outline())
    shirt_m = ras.fill(shirt)
    cv.paint(shirt_m, SHIRT)
    # the light comes from the upper left: deeper shade on the right side
    for fold in (_fold(0.115), mirror_world(_fold(0.075))):
        cv.paint(ras.fill(g.world(fold)).blurred(soft, width, height).clip(shirt_m), SHIRT_SHADE, 0.85)
    for light in (_shoulder_light(), mirror_world(_shoulder_light())):
        cv.paint(ras.fill(g.world(light)).blurred(soft, width, height).clip(shirt_m), SHIRT_LIGHT, 0.75)
    seam = pts([(0.80, 1.16), (0.77, 1.30), (0.775, 1.45), (0.785, 1.56)])
    for q in (seam, mirror_world(seam)):
        line = g.world(catmull_rom(q, closed=False, n=10))
        cv.paint(ras.stroke(line, g.px(THIN)), SHIRT_SHADE, 0.9)

    flaps = [g.world(_collar_flap()), g.world(mirror_world(_collar_flap()))]
    shadow = ras.fill(*[q + np.asarray([g.px(0.004), g.px(0.014)]) for q in flaps])
    cv.paint(shadow.blurred(soft, width, height).clip(shirt_m), SHIRT_SHADE, 0.9)
    cv.paint(ras.stroke(shirt[:-1], lw), OUTLINE)
    for q in flaps:
        fm = ras.fill(q)
        cv.paint(fm, COLLAR)
        lit = ras.fill(q - np.asarray([g.px(0.006), g.px(0.014)])).blurred(soft, width, height)
        cv.paint(fm.cut(lit), COLLAR_SHADE)
        cv.paint(ras.stroke(q, lw, closed=True), OUTLINE)

    star = g.world(_star(0.66, 1.32, 0.032))
    sm = ras.fill(star)
    cv.paint(sm, STAR)
    lit = ras.fill(g.world(_star(0.654, 1.314, 0.03))).blurred(g.px(0.002), width, height)
    cv.paint(sm.cut(lit), STAR_SHADE)
    cv.paint(ras.stroke(star, g.px(THIN * 1.2), closed=True), OUTLINE)
    return cv
