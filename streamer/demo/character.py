"""Draws Pip, the demo character, from a FaceParams into an RGBA image (pure, no I/O).

Geometry is authored in *scale units* (1.0 = the width of a 2:3 canvas) around the head centre,
then posed (tilt, nod) and mapped to pixels, so any canvas size draws the same picture. The
neck and shoulders never move and are drawn once per size and reused.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image

from streamer.demo.params import FaceParams
from streamer.demo.raster import (
    RGB,
    Canvas,
    Mask,
    Path,
    Points,
    Raster,
    catmull_rom,
    ellipse,
    mirror_x,
    mix,
    pts,
    rgb,
)

# --------------------------------------------------------------------------- palette

OUTLINE = rgb("#4a2a2b")
SKIN = rgb("#ffe1cd")
SKIN_LIGHT = rgb("#fff3e9")
SKIN_SHADE = rgb("#f5b9a3")
SKIN_DEEP = rgb("#d98a80")
BLUSH = rgb("#ff8793")
HAIR = rgb("#a9552f")
HAIR_SHADE = rgb("#7a3522")
HAIR_BACK = rgb("#66291b")
HAIR_HI = rgb("#e39a62")
HAIR_LINE = rgb("#4c2019")
BROW = rgb("#6b2f22")
EYE_WHITE = rgb("#fffdf9")
EYE_SHADE = rgb("#dccbd6")
IRIS_DARK = rgb("#1d4a68")
IRIS = rgb("#2e86a7")
IRIS_LIGHT = rgb("#86d6df")
PUPIL = rgb("#17202e")
LASH = rgb("#3a1f22")
MOUTH = rgb("#7a2737")
MOUTH_DEEP = rgb("#561827")
TONGUE = rgb("#f07a87")
TEETH = rgb("#ffffff")
TEETH_SHADE = rgb("#e6e0e8")
LIPS = rgb("#f1998f")
SHIRT = rgb("#3ba497")
SHIRT_SHADE = rgb("#287a78")
SHIRT_LIGHT = rgb("#62c2b0")
COLLAR = rgb("#fff7e8")
COLLAR_SHADE = rgb("#ecd8c0")
STAR = rgb("#ffcb4d")
STAR_SHADE = rgb("#f4a63a")

LINE = 0.0072  # main outline width
THIN = 0.0045  # inner detail lines

HEAD_CENTRE = (0.5, 0.67)  # world position of the head's local origin
HEAD_SCALE = 1.08  # head-local units -> world units
PIVOT = (0.5, 0.915)  # the head turns about the top of the neck


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class Geometry:
    """Maps world and head-local scale units to output pixels for one face."""

    def __init__(self, p: FaceParams, width: int, height: int) -> None:
        self.p = p
        self.width = width
        self.height = height
        self.s = min(width, height / 1.5)
        self.ox = (width - self.s) / 2
        self.oy = height - 1.5 * self.s
        a = math.radians(p.head_angle_deg)
        self.cos, self.sin = math.cos(a), math.sin(a)

    def px(self, length: float) -> float:
        return length * self.s

    def world(self, q: Points) -> Points:
        return np.stack([self.ox + q[:, 0] * self.s, self.oy + q[:, 1] * self.s], axis=1)

    def head(self, q: Points, warp: bool = True, extra_dy: float = 0.0) -> Points:
        """Head-local points -> pixels, through the nod warp and the head pose."""
        p = self.p
        x, y = q[:, 0], q[:, 1]
        if warp:
            # features slide on the skull while the crown stays: a cheap turn of a sphere
            y = y + p.face_dy * _smooth((y + 0.36) / 0.30)
        wx = HEAD_CENTRE[0] + x * HEAD_SCALE
        wy = HEAD_CENTRE[1] + (y + extra_dy) * HEAD_SCALE
        rx = wx - PIVOT[0]
        ry = (wy - PIVOT[1]) * p.head_scale_y
        nx = rx * self.cos + ry * self.sin
        ny = -rx * self.sin + ry * self.cos
        out = np.stack([PIVOT[0] + nx + p.head_dx, PIVOT[1] + ny + p.head_dy], axis=1)
        return self.world(out)


def _both(q: Points) -> list[Points]:
    """A right-side shape and its mirror image on the left."""
    return [q, mirror_x(q)[::-1].copy()]


# --------------------------------------------------------------------------- body


def _neck_outline() -> Points:
    return (
        Path((0.42, 0.72))
        .line((0.58, 0.72))
        .cubic((0.576, 0.88), (0.578, 0.99), (0.59, 1.05))
        .cubic((0.60, 1.09), (0.62, 1.12), (0.66, 1.14))
        .line((0.34, 1.14))
        .cubic((0.38, 1.12), (0.40, 1.09), (0.41, 1.05))
        .cubic((0.422, 0.99), (0.424, 0.88), (0.42, 0.72))
        .points()
    )


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
    left = np.stack([1.0 - right[::-1, 0], right[::-1, 1]], axis=1)
    return np.concatenate([right, left[1:-1]], axis=0)


def _collar_flap() -> Points:
    """The right half of a rounded (Peter Pan) collar, in world units."""
    return (
        Path((0.5, 1.128))
        .cubic((0.545, 1.127), (0.578, 1.104), (0.598, 1.072))
        .cubic((0.640, 1.080), (0.672, 1.105), (0.668, 1.140))
        .cubic((0.662, 1.185), (0.600, 1.205), (0.555, 1.196))
        .cubic((0.525, 1.190), (0.506, 1.165), (0.5, 1.128))
        .points()
    )


def _star(cx: float, cy: float, r: float, rot: float = -8.0) -> Points:
    out = []
    for i in range(10):
        a = math.radians(rot - 90 + i * 36)
        rr = r if i % 2 == 0 else r * 0.48
        out.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    # round the points a little by passing through a spline on a denser outline
    return catmull_rom(pts(out), closed=True, n=6)


@functools.lru_cache(maxsize=4)
def _body_layer(width: int, height: int, supersample: int) -> Canvas:
    """The neck, shirt and collar (never move), drawn once per size."""
    g = Geometry(FaceParams(), width, height)
    ras = Raster(width, height, supersample)
    cv = Canvas(width, height)
    lw = g.px(LINE)

    neck = g.world(_neck_outline())
    neck_m = ras.fill(neck)
    cv.paint(neck_m, cv.linear(neck_m, (g.ox + 0.43 * g.s, 0), (g.ox + 0.60 * g.s, 0), SKIN,
                               mix(SKIN, SKIN_SHADE, 0.55)))
    # the throat's side shadows
    side = g.world(pts([(0.555, 0.86), (0.58, 0.86), (0.60, 1.12), (0.545, 1.12)]))
    cv.paint(ras.fill(side).blurred(g.px(0.012), width, height).clip(neck_m), SKIN_SHADE, 0.8)
    cv.paint(ras.stroke(neck[2:-1], lw), OUTLINE)

    shirt = g.world(_shirt_outline())
    shirt_m = ras.fill(shirt)
    cv.paint(shirt_m, cv.linear(shirt_m, (0, g.oy + 1.12 * g.s), (0, g.oy + 1.5 * g.s),
                                SHIRT, mix(SHIRT, SHIRT_SHADE, 0.35)))
    # shade towards the arms, light on the shoulders
    for q in _both(pts([(0.83, 1.20), (0.95, 1.20), (0.95, 1.56), (0.80, 1.56), (0.78, 1.35)])):
        q = q if q[0, 0] > 0 else np.stack([1.0 + q[:, 0] - 0.0, q[:, 1]], axis=1)
        cv.paint(ras.fill(g.world(q)).blurred(g.px(0.03), width, height).clip(shirt_m),
                 SHIRT_SHADE, 0.75)
    for cx in (0.30, 0.70):
        hi = ellipse(cx, 1.16, 0.09, 0.025, -12 if cx < 0.5 else 12)
        cv.paint(ras.fill(g.world(hi)).blurred(g.px(0.02), width, height).clip(shirt_m),
                 SHIRT_LIGHT, 0.55)
    # sleeve seams
    for sgn in (1.0, -1.0):
        seam = g.world(_x_about(pts([(0.80, 1.16), (0.77, 1.30), (0.775, 1.45), (0.785, 1.56)]),
                                sgn))
        cv.paint(ras.stroke(catmull_rom(seam, closed=False, n=10), g.px(THIN)), SHIRT_SHADE, 0.9)
    # collar shadow on the shirt, then the collar
    flaps = [g.world(_collar_flap()), g.world(_x_about(_collar_flap(), -1.0))]
    shadow = ras.fill(*[q + np.asarray([0, g.px(0.012)]) for q in flaps])
    cv.paint(shadow.blurred(g.px(0.008), width, height).clip(shirt_m), SHIRT_SHADE, 0.8)
    cv.paint(ras.stroke(shirt[:-1], lw), OUTLINE)
    for q in flaps:
        fm = ras.fill(q)
        cv.paint(fm, cv.linear(fm, (0, g.oy + 1.08 * g.s), (0, g.oy + 1.2 * g.s), COLLAR,
                               COLLAR_SHADE))
        cv.paint(ras.stroke(q, lw, closed=True), OUTLINE)
    # a small star pin
    star = g.world(_star(0.66, 1.32, 0.032))
    sm = ras.fill(star)
    cv.paint(sm, cv.linear(sm, (0, g.oy + 1.29 * g.s), (0, g.oy + 1.36 * g.s), STAR, STAR_SHADE))
    cv.paint(ras.stroke(star, g.px(THIN * 1.2), closed=True), OUTLINE)
    return cv


def _x_about(q: Points, sgn: float) -> Points:
    """Mirror world points about the canvas centre line when ``sgn`` is negative."""
    if sgn > 0:
        return q
    return np.stack([1.0 - q[:, 0], q[:, 1]], axis=1)


# --------------------------------------------------------------------------- head shapes


def _face_outline(p: FaceParams) -> Points:
    right = pts([
        (0.0, -0.318), (0.13, -0.298), (0.207, -0.215), (0.229, -0.09), (0.229, 0.03),
        (0.216, 0.112), (0.182, 0.19), (0.122, 0.249), (0.052, 0.279),
    ])
    left = np.stack([-right[:0:-1, 0], right[:0:-1, 1]], axis=1)
    ctrl = np.concatenate([right, pts([(0.0, 0.286)]), left], axis=0)
    jaw = p.mouth_open * 0.024
    ctrl[:, 1] += jaw * np.clip((ctrl[:, 1] - 0.08) / 0.2, 0.0, 1.0)
    return catmull_rom(ctrl, closed=True, n=12)


def _back_hair() -> Points:
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
    return np.concatenate([right, mirror_x(right)[1:-1]], axis=0)


# fringe locks, right to left: (tip, notch after it); each lock sweeps to the viewer's right
_LOCKS = (
    ((0.182, -0.030), (0.126, -0.128)),
    ((0.106, -0.086), (0.046, -0.142)),
    ((0.024, -0.096), (-0.046, -0.148)),
    ((-0.066, -0.092), (-0.122, -0.130)),
    ((-0.172, -0.040), (-0.196, -0.072)),
)


def _front_hair() -> Points:
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
        # short edge straight down from the notch, long bulging edge back up to the next notch
        path.quad((tip[0] + 0.012, notch[1] + 0.55 * (tip[1] - notch[1])), tip)
        path.quad((tip[0] - 0.045 * (1 if tip[0] > -0.1 else -0.2), tip[1] - 0.012), nxt)
        notch = nxt
    path.quad((-0.200, 0.03), (-0.214, 0.118))
    return path.points()


def _fringe_strands() -> list[Points]:
    """Inner strand lines (lighter shade) running towards the lock tips."""
    strands = [
        [(0.12, -0.30), (0.17, -0.16), (0.19, -0.06)],
        [(0.05, -0.32), (0.10, -0.20), (0.11, -0.10)],
        [(-0.03, -0.33), (0.01, -0.22), (0.025, -0.11)],
        [(-0.11, -0.31), (-0.08, -0.20), (-0.072, -0.10)],
        [(-0.19, -0.26), (-0.17, -0.14), (-0.172, -0.055)],
        [(0.245, -0.20), (0.235, -0.05), (0.228, 0.09)],
        [(-0.245, -0.20), (-0.235, -0.05), (-0.228, 0.09)],
    ]
    return [catmull_rom(pts(s), closed=False, n=10) for s in strands]


def _ahoge() -> Points:
    return (
        Path((-0.025, -0.37))
        .cubic((-0.035, -0.46), (0.02, -0.50), (0.085, -0.485))
        .cubic((0.04, -0.475), (0.02, -0.44), (0.035, -0.37))
        .points()
    )


def _halo() -> Points:
    """Hair highlight: a thin glossy ring across the crown whose lower edge breaks into points."""
    n = 64
    teeth = 11
    top, bottom = [], []
    for i in range(n + 1):
        u = -1 + 2 * i / n
        x = 0.212 * u
        y = -0.300 + 0.092 * u * u
        thick = 0.007 * (1 - 0.7 * u * u) + 0.001
        # sawtooth teeth along the lower edge, longer in the middle
        phase = (u + 1) / 2 * teeth
        tooth = 1 - abs(2 * (phase - math.floor(phase)) - 1)
        length = 0.024 * (1 - 0.6 * u * u) * (0.7 + 0.3 * math.cos(math.floor(phase) * 2.4))
        top.append((x, y - thick))
        bottom.append((x + 0.006 * u, y + thick + length * tooth**1.6))
    return np.concatenate([pts(top), pts(bottom)[::-1]], axis=0)


# --------------------------------------------------------------------------- features


def _eye_curves(p: FaceParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parameter u (-1 inner .. 1 outer), upper lid y, lower lid y, open upper lid y (local)."""
    u = np.linspace(-1.0, 1.0, 41)
    cy = 0.045
    top = 0.052 * (1 + 0.28 * p.eye_wide)
    bot = 0.046 * (1 + 0.12 * p.eye_wide)
    corner = 0.004 * u  # outer corner sits a touch lower: a gentle, friendly eye
    up_open = cy + corner - top * np.power(np.clip(1 - u * u, 0, 1), 0.55) - 0.004 * u
    lo_open = cy + corner + bot * np.power(np.clip(1 - u * u, 0, 1), 0.85)
    closed = cy + corner + 0.017 * np.power(np.clip(1 - u * u, 0, 1), 0.7)
    squint_lo = cy + corner + 0.004 - 0.024 * np.power(np.clip(1 - u * u, 0, 1), 0.6)
    lid = min(1.0, p.eyelid_upper + 0.14 * p.eye_squint * (1 - p.eyelid_upper))
    up = up_open + (closed - up_open) * lid
    lo = lo_open + (squint_lo - lo_open) * p.eye_squint
    lo = lo + (closed - lo) * p.eyelid_upper
    lo = np.maximum(lo, up)
    return u, up, lo, up_open


def _draw_eye(cv: Canvas, ras: Raster, g: Geometry, p: FaceParams, side: float) -> None:
    u, up, lo, up_open = _eye_curves(p)
    cx, hw = side * 0.099, 0.064
    x = cx + side * u * hw
    upper = np.stack([x, up], axis=1)
    lower = np.stack([x, lo], axis=1)
    opening = g.head(np.concatenate([upper, lower[::-1]], axis=0))
    open_m = ras.fill(opening)
    cv.paint(open_m, EYE_WHITE)
    # shadow of the upper lid on the eyeball
    band = np.concatenate([upper, np.stack([x, up + 0.03], axis=1)[::-1]], axis=0)
    cv.paint(ras.fill(g.head(band)).blurred(g.px(0.006), g.width, g.height).clip(open_m),
             EYE_SHADE, 0.9)
    # iris, pupil, catch lights
    r = 0.047 * (1 - 0.1 * p.eye_wide)
    icx, icy = cx - side * 0.002, 0.050
    iris = g.head(ellipse(icx, icy, r, r * 1.04, n=72))
    iris_m = ras.fill(iris).clip(open_m)
    top_px = g.head(pts([(icx, icy - r), (icx, icy + r)]))
    cv.paint(iris_m, cv.linear(iris_m, tuple(top_px[0]), tuple(top_px[1]), IRIS_DARK, IRIS_LIGHT))
    glow = g.head(ellipse(icx, icy + r * 0.45, r * 0.62, r * 0.38, n=48))
    cv.paint(ras.fill(glow).blurred(g.px(0.007), g.width, g.height).clip(iris_m), IRIS_LIGHT, 0.7)
    pr = r * 0.46 * (1 - 0.22 * p.eye_wide)
    cv.paint(ras.fill(g.head(ellipse(icx, icy + 0.002, pr, pr * 1.08, n=48))).clip(open_m), PUPIL)
    cv.paint(ras.stroke(iris, g.px(0.0035), closed=True).clip(open_m), IRIS_DARK)
    cv.paint(cv_band_shadow(ras, g, upper, x, up).clip(iris_m), IRIS_DARK, 0.55)
    hl = g.head(ellipse(icx - 0.017, icy - 0.017, 0.0135, 0.0145, n=40))
    cv.paint(ras.fill(hl).clip(open_m), (1.0, 1.0, 1.0))
    hl2 = g.head(ellipse(icx + 0.017, icy + 0.02, 0.0062, 0.0062, n=32))
    cv.paint(ras.fill(hl2).clip(open_m), (1.0, 1.0, 1.0), 0.9)
    # lash line: heavy, thinning at the inner corner, with a flick at the outer corner
    lash_w = g.px(0.0125) * (0.35 + 0.65 * _smooth((u + 1.0) / 1.2))
    cv.paint(ras.stroke(g.head(upper), lash_w), LASH)
    ox, oy = x[-1], up[-1]
    flick = (
        Path((ox - side * 0.004, oy))
        .quad((ox + side * 0.014, oy - 0.004), (ox + side * 0.022, oy - 0.016), n=10)
        .points()
    )
    fw = g.px(0.0095) * np.linspace(1.0, 0.15, len(flick))
    cv.paint(ras.stroke(g.head(flick), fw), LASH)
    # lower lid: a short soft line under the outer half
    sel = u > -0.2 - 0.6 * p.eye_squint
    lw = g.px(0.0042 + 0.0012 * p.eye_squint) * np.sin(
        np.linspace(0.15, math.pi - 0.15, int(sel.sum())))
    cv.paint(ras.stroke(g.head(lower[sel] + np.asarray([0.0, 0.002])), lw), OUTLINE,
             (0.55 + 0.4 * p.eye_squint) * (1 - p.eyelid_upper))
    # the crease above the lid
    sel = (u > -0.55) & (u < 0.85)
    crease = np.stack([x[sel], up_open[sel] - 0.017 - 0.004 * p.eye_wide], axis=1)
    cw = g.px(0.0035) * np.sin(np.linspace(0.1, math.pi - 0.1, len(crease)))
    cv.paint(ras.stroke(g.head(crease), cw), SKIN_DEEP, 0.8)


def cv_band_shadow(ras: Raster, g: Geometry, upper: Points, x: np.ndarray, up: np.ndarray) -> Mask:
    """A soft band just under the upper lid (the lid's shadow on the iris)."""
    band = np.concatenate([upper, np.stack([x, up + 0.016], axis=1)[::-1]], axis=0)
    return ras.fill(g.head(band)).blurred(g.px(0.005), g.width, g.height)


def _draw_brow(cv: Canvas, ras: Raster, g: Geometry, p: FaceParams, side: float) -> None:
    u = np.linspace(-1.0, 1.0, 24)  # inner .. outer
    half = 0.052
    cx = side * (0.102 - 0.012 * p.brow_knit)
    cy = -0.040 - p.brow_height
    x = cx + side * (u * half + 0.012 * p.brow_knit * (1 - u) / 2 * 0)
    y = cy - 0.013 * (1 - u * u) + 0.004 * u
    y = y - math.tan(math.radians(p.brow_angle)) * (-u) * half
    w = g.px(0.017) * (1.0 - 0.62 * _smooth((u + 1) / 2)) * np.clip((u + 1.08) / 0.25, 0.35, 1.0)
    cv.paint(ras.stroke(g.head(np.stack([x, y], axis=1)), w), BROW)


def _draw_nose(cv: Canvas, ras: Raster, g: Geometry) -> None:
    tip = g.head(ellipse(0.0, 0.118, 0.02, 0.013, n=40))
    cv.paint(ras.fill(tip).blurred(g.px(0.008), g.width, g.height), SKIN_SHADE, 0.55)
    hook = Path((0.010, 0.104)).quad((0.020, 0.124), (0.002, 0.131), n=14).points()
    w = g.px(0.0058) * np.sin(np.linspace(0.25, math.pi - 0.2, len(hook)))
    cv.paint(ras.stroke(g.head(hook), w), SKIN_DEEP)
    cv.paint(ras.fill(g.head(ellipse(-0.008, 0.106, 0.005, 0.004, n=24))), SKIN_LIGHT, 0.9)


def _mouth_curves(p: FaceParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, upper edge y, lower edge y and mid line y of the mouth opening (head-local)."""
    u = np.linspace(-1.0, 1.0, 49)
    jaw = p.mouth_open * 0.012
    cy = 0.192 + jaw * 0.5
    hw = 0.045 * p.mouth_width
    x = u * hw
    smile = p.mouth_smile * 0.02 * (0.6 + 0.4 * p.mouth_width)
    mid = cy - smile * u * u
    height = p.mouth_open * 0.088
    top_frac = 0.38 + 0.12 * p.mouth_round - 0.18 * max(p.mouth_smile, 0.0) * p.mouth_open
    power = 2.0 + 1.4 * (1 - p.mouth_round)
    prof = np.power(np.clip(1 - np.abs(u) ** power, 0.0, 1.0), 1 / power)
    up = mid - height * top_frac * prof
    lo = mid + height * (1 - top_frac) * prof
    # a smile's upper edge follows its lower one a little (the "D" shape)
    up = up + max(p.mouth_smile, 0.0) * p.mouth_open * 0.012 * (1 - u * u)
    return x, up, lo, mid


def _draw_mouth(cv: Canvas, ras: Raster, g: Geometry, p: FaceParams) -> None:
    x, up, lo, mid = _mouth_curves(p)
    upper = np.stack([x, up], axis=1)
    lower = np.stack([x, lo], axis=1)
    outline = g.head(np.concatenate([upper, lower[::-1][1:-1]], axis=0))
    # puckered lips around a round mouth
    pucker = min(1.0, max(0.0, (p.mouth_round - 0.5) * 2))
    if pucker > 0.01:
        cv.paint(ras.stroke(outline, g.px(0.018) * pucker, closed=True), LIPS, 0.8 * pucker)
    inner = ras.fill(outline)
    if not inner.is_empty():
        ends = g.head(pts([(0.0, float(up.min())), (0.0, float(lo.max()))]))
        cv.paint(inner, cv.linear(inner, tuple(ends[0]), tuple(ends[1]), MOUTH_DEEP, MOUTH))
        hw = float(x.max())
        if p.tongue > 0.01:
            tongue = g.head(ellipse(0.004, float(lo[len(lo) // 2]) + 0.004, hw * 0.62,
                                    0.03 * (0.5 + p.mouth_open * 0.6), n=48))
            cv.paint(ras.fill(tongue).clip(inner), TONGUE, min(1.0, p.tongue))
        if p.teeth_upper > 0.01:
            th = 0.016 * p.teeth_upper
            band = np.concatenate([upper, np.stack([x, up + th], axis=1)[::-1]], axis=0)
            teeth = ras.fill(g.head(band)).clip(inner)
            cv.paint(teeth, TEETH)
            edge = np.stack([x * 0.9, up + th], axis=1)
            cv.paint(ras.stroke(g.head(edge), g.px(0.003)).clip(teeth), TEETH_SHADE)
        if p.teeth_lower > 0.01:
            th = 0.012 * p.teeth_lower
            band = np.concatenate([lower, np.stack([x, lo - th], axis=1)[::-1]], axis=0)
            cv.paint(ras.fill(g.head(band)).clip(inner), TEETH)
    # the line around it: tapered at the corners; a closed mouth is just this line
    n = len(outline)
    t = np.abs(np.concatenate([x, x[::-1][1:-1]])) / max(float(np.abs(x).max()), 1e-6)
    widths = g.px(0.0068) * (0.45 + 0.55 * (1 - t**3))
    cv.paint(ras.stroke(outline, widths[:n], closed=True), OUTLINE)
    # smile corners and a hint of lower lip
    dimple = min(1.0, max(0.0, (p.mouth_smile - 0.5) * 2.5))
    if dimple > 0.01:
        for sgn in (1.0, -1.0):
            cx, cy = sgn * float(x.max()), float(mid[-1])
            tick = Path((cx - sgn * 0.004, cy + 0.001)).quad(
                (cx + sgn * 0.006, cy - 0.002), (cx + sgn * 0.009, cy + 0.009), n=8).points()
            tw = g.px(0.0042) * np.linspace(1.0, 0.2, len(tick))
            cv.paint(ras.stroke(g.head(tick), tw), OUTLINE, dimple * 0.8)
    lip_y = float(lo[len(lo) // 2]) + 0.017
    lip = np.stack([np.linspace(-0.014, 0.014, 9), lip_y + 0.002 * np.linspace(-1, 1, 9) ** 2],
                   axis=1)
    cv.paint(ras.stroke(g.head(lip), g.px(0.004) * np.sin(np.linspace(0.2, 2.9, 9))), SKIN_DEEP,
             0.5)


def _draw_blush(cv: Canvas, ras: Raster, g: Geometry, p: FaceParams) -> None:
    if p.blush <= 0.01:
        return
    for sgn in (1.0, -1.0):
        cheek = g.head(ellipse(sgn * 0.152, 0.128, 0.052, 0.03, n=48))
        cv.paint(ras.fill(cheek).blurred(g.px(0.014), g.width, g.height), BLUSH, 0.6 * p.blush)
        hatch = max(0.0, (p.blush - 0.45) / 0.5)
        if hatch > 0:
            for k in range(3):
                bx = sgn * (0.130 + 0.018 * k)
                line = pts([(bx + 0.006, 0.116), (bx - 0.006, 0.138)])
                cv.paint(ras.stroke(g.head(line), g.px(0.0032)), SKIN_DEEP, 0.75 * min(1, hatch))


def _draw_ear(cv: Canvas, ras: Raster, g: Geometry, p: FaceParams, side: float) -> None:
    cx, cy = side * 0.236, 0.066 + p.ear_dy
    ear = g.head(ellipse(cx, cy, 0.041, 0.058, side * 12, n=64), warp=False)
    em = ras.fill(ear)
    cv.paint(em, SKIN)
    inner = g.head(ellipse(cx + side * 0.006, cy + 0.002, 0.02, 0.034, side * 14, n=48),
                   warp=False)
    cv.paint(ras.fill(inner).blurred(g.px(0.006), g.width, g.height).clip(em), SKIN_SHADE, 0.9)
    fold = Path((cx + side * 0.004, cy - 0.028)).quad((cx + side * 0.026, cy - 0.012),
                                                       (cx + side * 0.012, cy + 0.022)).points()
    cv.paint(ras.stroke(g.head(fold, warp=False), g.px(THIN) * np.sin(np.linspace(0.2, 2.9, 18))),
             SKIN_DEEP)
    cv.paint(ras.stroke(ear, g.px(LINE), closed=True), OUTLINE)


# --------------------------------------------------------------------------- the whole face


def render(p: FaceParams, size: tuple[int, int], supersample: int = 4) -> Image.Image:
    """Pip with face ``p`` on a transparent ``size`` = (width, height) canvas."""
    width, height = size
    g = Geometry(p, width, height)
    ras = Raster(width, height, supersample)
    cv = _body_layer(width, height, supersample).copy()
    lw = g.px(LINE)

    # back hair goes under the neck and shirt
    back = g.head(_back_hair(), warp=False)
    back_m = ras.fill(back)
    back_line = ras.stroke(back, lw, closed=True)
    cv.paint(back_line, OUTLINE, under=True)
    cv.paint(back_m, HAIR_BACK, under=True)

    face = g.head(_face_outline(p))
    face_m = ras.fill(face)

    # chin shadow on the neck
    neck_m = ras.fill(g.world(_neck_outline()))
    chin = g.head(_face_outline(p), extra_dy=0.042)
    cv.paint(ras.fill(chin).blurred(g.px(0.008), width, height).clip(neck_m).cut(face_m),
             mix(SKIN_SHADE, SKIN_DEEP, 0.35), 0.95)

    for side in (1.0, -1.0):
        _draw_ear(cv, ras, g, p, side)

    cv.paint(face_m, SKIN)
    # form shading: the side away from the light (upper left) and under the cheeks
    lit = g.head(_face_outline(p) * np.asarray([0.94, 0.97]) + np.asarray([-0.022, -0.012]))
    cv.paint(face_m.cut(ras.fill(lit).blurred(g.px(0.02), width, height)), SKIN_SHADE, 0.8)
    glow = g.head(ellipse(-0.07, 0.0, 0.11, 0.12, n=64))
    cv.paint(ras.fill(glow).blurred(g.px(0.05), width, height).clip(face_m), SKIN_LIGHT, 0.45)

    front = g.head(_front_hair())
    front_m = ras.fill(front)
    # the fringe casts a soft-edged shadow on the forehead
    cast = g.head(_front_hair() + np.asarray([0.006, 0.022]))
    cv.paint(ras.fill(cast).blurred(g.px(0.004), width, height).clip(face_m), SKIN_SHADE, 0.85)
    cv.paint(ras.stroke(face, lw, closed=True), OUTLINE)

    _draw_blush(cv, ras, g, p)
    _draw_nose(cv, ras, g)
    _draw_mouth(cv, ras, g, p)
    for side in (1.0, -1.0):
        _draw_eye(cv, ras, g, p, side)

    ahoge = g.head(_ahoge(), warp=False)
    cv.paint(ras.fill(ahoge), HAIR)
    cv.paint(ras.stroke(ahoge, lw * 0.9, closed=True), OUTLINE)
    # front hair: fill, shading, strands, highlight, outline, then the cowlick
    cv.paint(front_m, cv.linear(front_m, tuple(g.head(pts([(0, -0.40)]))[0]),
                                tuple(g.head(pts([(0, 0.10)]))[0]), HAIR, HAIR_SHADE))
    for strand in _fringe_strands():
        w = g.px(0.006) * np.sin(np.linspace(0.15, math.pi - 0.3, len(strand)))
        cv.paint(ras.stroke(g.head(strand), w).clip(front_m), HAIR_SHADE, 0.9)
    sheen = g.head(ellipse(0.0, -0.27, 0.23, 0.07, n=64))
    cv.paint(ras.fill(sheen).blurred(g.px(0.03), width, height).clip(front_m), HAIR_HI, 0.35)
    halo = ras.fill(g.head(_halo())).blurred(g.px(0.001), width, height)
    cv.paint(halo.clip(front_m), HAIR_HI, 0.9)
    cv.paint(ras.stroke(front, lw, closed=True), OUTLINE)

    for side in (1.0, -1.0):
        _draw_brow(cv, ras, g, p, side)
    return cv.to_image()


def _unused(_: RGB) -> None:  # pragma: no cover - keeps the colour alias imported for typing
    return None
