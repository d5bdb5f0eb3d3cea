"""Draws Pip, the demo character, for one FaceParams onto a transparent RGBA image (pure, no I/O).

Layers, back to front: back hair, the cached neck and shirt, chin shadow, ears, face and its
shading, cheeks, nose, mouth, eyes, hair, brows. Every shape is scaled from the canvas size.
"""

from __future__ import annotations

from PIL import Image

from streamer.demo.body import body_layer
from streamer.demo.eyes import draw_eye
from streamer.demo.face import (
    draw_blush,
    draw_brow,
    draw_chin_shadow,
    draw_ear,
    draw_nose,
    draw_skin,
    face_outline,
)
from streamer.demo.geometry import Geometry
from streamer.demo.hair import draw_back_hair, draw_front_hair, fringe_shadow
from streamer.demo.mouth import draw_mouth
from streamer.demo.palette import LINE, OUTLINE
from streamer.demo.params import FaceParams
from streamer.demo.raster import Raster

SUPERSAMPLE = 3  # 3x3 coverage samples per pixel for every edge


def render(p: FaceParams, size: tuple[int, int], supersample: int = SUPERSAMPLE) -> Image.Image:
    """Pip with face ``p`` on a transparent canvas of ``size`` = (width, height) pixels."""
    width, height = size
    g = Geometry(p, width, height)
    ras = Raster(width, height, supersample)
    cv = body_layer(width, height, supersample).copy()
    draw_back_hair(cv, ras, g)

    face = g.head(face_outline(p))
    face_m = ras.fill(face)
    draw_chin_shadow(cv, ras, g, face_m)
    for side in (1.0, -1.0):
        draw_ear(cv, ras, g, p, side)
    draw_skin(cv, ras, g, face_m, fringe_shadow(ras, g))
    cv.paint(ras.stroke(face, g.px(LINE), closed=True), OUTLINE)

    draw_blush(cv, ras, g, p)
    draw_nose(cv, ras, g)
    draw_mouth(cv, ras, g, p)
    for side in (1.0, -1.0):
        draw_eye(cv, ras, g, p, side)
    draw_front_hair(cv, ras, g)
    for side in (1.0, -1.0):
        draw_brow(cv, ras, g, p, side)
    return cv.to_image()
