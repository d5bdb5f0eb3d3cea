"""The demo character's hair: back mass, crown with a swept fringe, cowlick and shine (pure, no I/O)."""

from __future__ import annotations

import functools
import math

import numpy as np

from streamer.demo.geometry import Geometry
from streamer.demo.palette import HAIR, HAIR_BACK, HAIR_HI, HAIR_SHADE, LINE, OUTLINE
from streamer.demo.raster import Canvas, Mask, Path, Points, Raster, catmull_rom, frozen, mirror_x, pts

# fringe locks, right to left: (tip, notch after it); each lock sweeps to the viewer's right
_LOCKS = (
    ((0.182, -0.030), (0.126, -0.128)),
    ((0.106, -0.086), (0.046, -0.142)),
    ((0.024, -0.096), (-0.046, -0.148)),
    ((-0.066, -0.092), (-0.122, -0.130)),
    ((-0.172, -0.040), (-0.196, -0.072)),
)


@functools.cache
def back_hair() -> Points:
    """The hair behind the head, showing below the ears like a short bob."""
    right = (
        Path((0.0, -0.37))
        .cubic((0.17, -0.37), (0.285, -0.29), (0.288, -0.14))
        .cubic((0.295, -0.02), (0.285, 0.09), (0.262, 0.19))
        .quad((0.245, 0.21), (0.228, 0.19))
        .quad((0.212, 0.215), (0.19, 0.20))
        .line((0.10, 0.10))
        .line((0.0, 0.10))
        .points()
    )
    return frozen(np.concatenate([right, mirror_x(right)[1:-1]], axis=0))


@functools.cache
def front_hair() -> Points:
    """Crown, side locks in front of the ears and a swept fringe, as one outline."""
    path = (
        Path((-0.214, 0.118))
        .cubic((-0.232, 0.06), (-0.238, 0.02), (-0.252, -0.02))
        .cubic((-0.300, -0.10), (-0.300, -0.29), (-0.165, -0.385))
        .cubic((-0.11, -0.41), (-0.05, -0.41), (0.0, -0.408))
        .cubic((0.05, -0.41), (0.11, -0.41), (0.165, -0.385))
        .cubic((0.300, -0.29), (0.300, -0.10), (0.252, -0.02))
        .cubic((0.238, 0.02), (0.232, 0.06), (0.214, 0.118))
        .quad((0.200, 0.03), (0.198, -0.072))
    )
    notch = (0.198, -0.072)
    for tip, nxt in _LOCKS:
        # a short edge down from the notch, then a long bulging edge up to the next notch
        path.quad((tip[0] + 0.012, notch[1] + 0.55 * (tip[1] - notch[1])), tip)
        path.quad((tip[0] - 0.045 * (1 if tip[0] > -0.1 else -0.2), tip[1] - 0.012), nxt)
        notch = nxt
    path.quad((-0.200, 0.03), (-0.214, 0.118))
    return frozen(path.points())


@functools.cache
def _strands() -> tuple[Points, ...]:
    """Shade lines running down the locks towards their tips."""
    strands = [
        [(0.150, -0.23), (0.172, -0.15), (0.186, -0.07)],
        [(0.080, -0.25), (0.100, -0.18), (0.108, -0.11)],
        [(0.000, -0.25), (0.014, -0.18), (0.022, -0.12)],
        [(-0.090, -0.24), (-0.078, -0.17), (-0.070, -0.11)],
        [(-0.185, -0.20), (-0.174, -0.13), (-0.172, -0.065)],
        [(0.250, -0.13), (0.240, -0.04), (0.228, 0.07)],
        [(-0.250, -0.13), (-0.240, -0.04), (-0.228, 0.07)],
    ]
    return tuple(frozen(catmull_rom(pts(s), closed=False, n=10)) for s in strands)


@functools.cache
def _cowlick() -> Points:
    cowlick = (
        Path((-0.025, -0.37))
        .cubic((-0.035, -0.46), (0.02, -0.50), (0.085, -0.485))
        .cubic((0.04, -0.475), (0.02, -0.44), (0.035, -0.37))
        .points()
    )
    return frozen(cowlick)


@functools.cache
def _shine() -> Points:
    """A thin glossy ring across the crown whose lower edge breaks into points."""
    n, teeth = 64, 9
    top, bottom = [], []
    for i in range(n + 1):
        u = -1 + 2 * i / n
        x = 0.212 * u
        y = -0.300 + 0.092 * u * u
        thick = 0.007 * (1 - 0.7 * u * u) + 0.001
        phase = (u + 1) / 2 * teeth
        tooth = 1 - abs(2 * (phase - math.floor(phase)) - 1)
        length = 0.024 * (1 - 0.6 * u * u) * (0.7 + 0.3 * math.cos(math.floor(phase) * 2.4))
        top.append((x, y - thick))
        bottom.append((x + 0.006 * u, y + thick + length * tooth**2.5))
    return frozen(np.concatenate([pts(top), pts(bottom)[::-1]], axis=0))


def draw_back_hair(cv: Canvas, ras: Raster, g: Geometry) -> None:
    """Paint the back hair *under* what is already on the canvas (the neck and shirt)."""
    back = g.head(back_hair(), warp=False)
    cv.paint(ras.stroke(back, g.px(LINE), closed=True), OUTLINE, under=True)
    cv.paint(ras.fill(back), HAIR_BACK, under=True)


def fringe_shadow(ras: Raster, g: Geometry) -> Mask:
    """Where the fringe shades the forehead (before clipping to the face)."""
    cast = g.head(front_hair() + np.asarray([0.006, 0.022]))
    return ras.fill(cast).blurred(g.px(0.002), g.width, g.height)


def draw_front_hair(cv: Canvas, ras: Raster, g: Geometry) -> None:
    """Paint the cowlick, then the crown and fringe with their shade, strands and shine."""
    lw = g.px(LINE)
    cowlick = g.head(_cowlick(), warp=False)
    cv.paint(ras.fill(cowlick), HAIR)
    cv.paint(ras.stroke(cowlick, lw * 0.9, closed=True), OUTLINE)

    front = g.head(front_hair())
    front_m = ras.fill(front)
    cv.paint(front_m, HAIR)
    lit = g.head(front_hair() + np.asarray([-0.012, -0.03]))
    cv.paint(front_m.cut(ras.fill(lit).blurred(g.px(0.0015), g.width, g.height)), HAIR_SHADE, 0.85)
    for strand in _strands():
        w = g.px(0.006) * np.sin(np.linspace(0.15, math.pi - 0.3, len(strand)))
        cv.paint(ras.stroke(g.head(strand), w).clip(front_m), HAIR_SHADE, 0.9)
    shine = ras.fill(g.head(_shine())).blurred(g.px(0.001), g.width, g.height)
    cv.paint(shine.clip(front_m), HAIR_HI, 0.8)
    cv.paint(ras.stroke(front, lw, closed=True), OUTLINE)
