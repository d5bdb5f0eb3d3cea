"""Chroma keying: find a green-screen colour around a picture and make it transparent (pure numpy + Pillow)."""

from __future__ import annotations

import numpy as np

from streamer.core.errors import StreamerError
from streamer.rigs.files import RGBA

NEAR = 60.0  # RGB distance that is fully background
SOFT = 110.0  # RGB distance from which a pixel is fully kept (between: a soft edge)


def parse_colour(text: str) -> tuple[int, int, int]:
    value = text.strip().lstrip("#")
    if len(value) != 6 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise StreamerError(f"--chroma: expected auto, off or a colour like #00ff00, got {text!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def find_key(image: RGBA, mode: str) -> tuple[int, int, int] | None:
    """The colour to key out: ``mode`` is ``off``, ``auto`` or ``#rrggbb``.

    ``auto`` keys only an opaque picture whose border is mostly one strongly green (or blue)
    colour; a picture that already has transparency is left alone.
    """
    if mode == "off":
        return None
    if mode != "auto":
        return parse_colour(mode)
    if (image[..., 3] < 250).mean() > 0.01:
        return None
    border = np.concatenate([image[0, :, :3], image[-1, :, :3], image[:, 0, :3], image[:, -1, :3]]).astype(np.int32)
    median = np.median(border, axis=0)
    close = np.linalg.norm(border - median, axis=1) < NEAR
    r, g, b = (int(v) for v in median)
    screen = (g > 120 and g > r + 60 and g > b + 60) or (b > 120 and b > r + 60 and b > g + 60)
    return (r, g, b) if screen and close.mean() > 0.6 else None


def apply_key(image: RGBA, key: tuple[int, int, int]) -> RGBA:
    """``image`` with ``key`` made transparent (soft edge) and its spill removed from the edges."""
    rgb = image[..., :3].astype(np.float32)
    distance = np.linalg.norm(rgb - np.asarray(key, np.float32), axis=2)
    keep = np.clip((distance - NEAR) / (SOFT - NEAR), 0.0, 1.0)
    alpha = image[..., 3].astype(np.float32) * keep
    channel = int(np.argmax(key))
    others = [c for c in range(3) if c != channel]
    edge = keep < 1.0
    limit = rgb[..., others].max(axis=2)
    rgb[..., channel] = np.where(edge, np.minimum(rgb[..., channel], limit), rgb[..., channel])  # despill
    out = np.dstack([np.clip(rgb, 0, 255), alpha]).astype(np.uint8)
    out[alpha == 0, :3] = 0
    return out
