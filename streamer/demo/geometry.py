"""Where the demo character sits on the canvas and how a head pose moves its points (pure, no I/O).

Shapes are authored in *scale units* (1.0 = the canvas width at 2:3): the body in world units
(origin top left, 1 x 1.5), the head in head-local units around the head centre. ``Geometry``
maps both to output pixels, applying the face's tilt, nod and shift to head points only.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from streamer.demo.params import FaceParams
from streamer.demo.raster import Points

HEAD_CENTRE = (0.5, 0.67)  # world position of the head's local origin
HEAD_SCALE = 1.08  # head-local units -> world units
PIVOT = (0.5, 0.915)  # the head turns about the top of the neck

FloatArray = npt.NDArray[np.float64]


def smooth(x: FloatArray) -> FloatArray:
    """Elementwise smoothstep of ``x`` clamped to [0, 1]."""
    c = np.clip(x, 0.0, 1.0)
    out: FloatArray = c * c * (3.0 - 2.0 * c)
    return out


def mirror_world(q: Points) -> Points:
    """World points mirrored about the canvas centre line."""
    return np.stack([1.0 - q[:, 0], q[:, 1]], axis=1)


class Geometry:
    """Maps world and head-local scale units to output pixels for one face."""

    def __init__(self, p: FaceParams, width: int, height: int) -> None:
        self.p = p
        self.width = width
        self.height = height
        # fit a 2:3 stage, centred horizontally and standing on the bottom edge
        self.s = min(width, height / 1.5)
        self.ox = (width - self.s) / 2
        self.oy = height - 1.5 * self.s
        a = math.radians(p.head_angle_deg)
        self.cos, self.sin = math.cos(a), math.sin(a)

    def px(self, length: float) -> float:
        """A length in scale units, in pixels."""
        return length * self.s

    def world(self, q: Points) -> Points:
        """World points -> pixels."""
        return np.stack([self.ox + q[:, 0] * self.s, self.oy + q[:, 1] * self.s], axis=1)

    def head(self, q: Points, warp: bool = True, extra_dy: float = 0.0) -> Points:
        """Head-local points -> pixels, through the nod warp (unless ``warp`` is off) and pose."""
        p = self.p
        x, y = q[:, 0], q[:, 1]
        if warp:
            # features slide on the skull while the crown stays put: a cheap turn of a sphere
            y = y + p.face_dy * smooth((y + 0.36) / 0.30)
        wx = HEAD_CENTRE[0] + x * HEAD_SCALE
        wy = HEAD_CENTRE[1] + (y + extra_dy) * HEAD_SCALE
        rx = wx - PIVOT[0]
        ry = (wy - PIVOT[1]) * p.head_scale_y
        nx = rx * self.cos + ry * self.sin
        ny = -rx * self.sin + ry * self.cos
        out = np.stack([PIVOT[0] + nx + p.head_dx, PIVOT[1] + ny + p.head_dy], axis=1)
        return self.world(out)
