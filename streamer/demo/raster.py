"""Anti-aliased vector drawing for the demo character: paths, coverage masks, compositing (pure, no I/O).

Shapes are rasterised one at a time, supersampled inside their own bounding box and box-filtered
down to a coverage mask at output resolution; masks are then composited in premultiplied float.
This gives clean edges without drawing the whole canvas at several times its size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

Points = npt.NDArray[np.float64]
Coverage = npt.NDArray[np.float32]
RGB = tuple[float, float, float]


def rgb(hex_color: str) -> RGB:
    """``"#rrggbb"`` -> floats in [0, 1]."""
    h = hex_color.lstrip("#")
    return (int(h[0:2], 16) / 255.0, int(h[2:4], 16) / 255.0, int(h[4:6], 16) / 255.0)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """Linear blend of two colours."""
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


# --------------------------------------------------------------------------- paths


def pts(seq: Sequence[tuple[float, float]]) -> Points:
    """A list of (x, y) pairs as an (N, 2) array."""
    return np.asarray(seq, dtype=np.float64).reshape(-1, 2)


class Path:
    """Builds a polyline from lines and Bezier curves (sharp corners where segments meet)."""

    def __init__(self, start: tuple[float, float]) -> None:
        self._chunks: list[Points] = [pts([start])]
        self._last = np.asarray(start, dtype=np.float64)

    def _add(self, chunk: Points) -> Path:
        self._chunks.append(chunk[1:])
        self._last = chunk[-1]
        return self

    def line(self, p: tuple[float, float]) -> Path:
        return self._add(pts([tuple(self._last), p]))

    def quad(self, c: tuple[float, float], p: tuple[float, float], n: int = 18) -> Path:
        t = np.linspace(0.0, 1.0, n)[:, None]
        p0, p1, p2 = self._last, np.asarray(c), np.asarray(p)
        return self._add((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2)

    def cubic(self, c1: tuple[float, float], c2: tuple[float, float], p: tuple[float, float], n: int = 24) -> Path:
        t = np.linspace(0.0, 1.0, n)[:, None]
        p0, p1, p2, p3 = self._last, np.asarray(c1), np.asarray(c2), np.asarray(p)
        u = 1 - t
        return self._add(u**3 * p0 + 3 * u**2 * t * p1 + 3 * u * t**2 * p2 + t**3 * p3)

    def points(self) -> Points:
        return np.concatenate(self._chunks, axis=0)


def catmull_rom(control: Points, closed: bool = True, n: int = 14) -> Points:
    """A smooth curve through ``control`` (uniform Catmull-Rom, ``n`` samples per span)."""
    c = np.asarray(control, dtype=np.float64)
    if closed:
        ext = np.concatenate([c[-1:], c, c[:2]], axis=0)
        spans = len(c)
    else:
        ext = np.concatenate([2 * c[:1] - c[1:2], c, 2 * c[-1:] - c[-2:-1]], axis=0)
        spans = len(c) - 1
    t = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
    out = []
    for i in range(spans):
        p0, p1, p2, p3 = ext[i], ext[i + 1], ext[i + 2], ext[i + 3]
        out.append(
            0.5
            * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        )
    if not closed:
        out.append(c[-1:])
    return np.concatenate(out, axis=0)


def ellipse(cx: float, cy: float, rx: float, ry: float, rotation_deg: float = 0.0, n: int = 96) -> Points:
    """An ellipse outline as a closed polygon."""
    a = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    x, y = rx * np.cos(a), ry * np.sin(a)
    r = math.radians(rotation_deg)
    cr, sr = math.cos(r), math.sin(r)
    return np.stack([cx + x * cr - y * sr, cy + x * sr + y * cr], axis=1)


def frozen(p: Points) -> Points:
    """``p`` made read-only, so a cached shape cannot be changed by a caller by mistake."""
    p.flags.writeable = False
    return p


def mirror_x(p: Points) -> Points:
    """Mirror across x = 0 and reverse the order (keeps a closed outline's winding)."""
    return np.stack([-p[::-1, 0], p[::-1, 1]], axis=1)


# --------------------------------------------------------------------------- masks


class Mask:
    """A coverage mask in [0, 1] over the box ``[x0, x0 + w) x [y0, y0 + h)`` of the canvas."""

    __slots__ = ("x0", "y0", "a")

    def __init__(self, x0: int, y0: int, a: Coverage) -> None:
        self.x0 = x0
        self.y0 = y0
        self.a = a

    @property
    def x1(self) -> int:
        return self.x0 + int(self.a.shape[1])

    @property
    def y1(self) -> int:
        return self.y0 + int(self.a.shape[0])

    @staticmethod
    def empty() -> Mask:
        return Mask(0, 0, np.zeros((0, 0), dtype=np.float32))

    def is_empty(self) -> bool:
        return self.a.size == 0

    def _overlap(self, other: Mask) -> tuple[int, int, int, int] | None:
        x0, y0 = max(self.x0, other.x0), max(self.y0, other.y0)
        x1, y1 = min(self.x1, other.x1), min(self.y1, other.y1)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1

    def _view(self, box: tuple[int, int, int, int]) -> Coverage:
        x0, y0, x1, y1 = box
        return self.a[y0 - self.y0 : y1 - self.y0, x0 - self.x0 : x1 - self.x0]

    def clip(self, other: Mask) -> Mask:
        """Intersection (this shape, only where ``other`` covers)."""
        box = self._overlap(other)
        if box is None:
            return Mask.empty()
        return Mask(box[0], box[1], self._view(box) * other._view(box))

    def cut(self, other: Mask) -> Mask:
        """Difference (this shape, except where ``other`` covers)."""
        out = self.a.copy()
        box = self._overlap(other)
        if box is not None:
            x0, y0, x1, y1 = box
            out[y0 - self.y0 : y1 - self.y0, x0 - self.x0 : x1 - self.x0] *= 1.0 - other._view(box)
        return Mask(self.x0, self.y0, out)

    def blurred(self, radius: float, width: int, height: int) -> Mask:
        """Gaussian-blurred copy (``radius`` in pixels), grown to hold the blur, inside the canvas."""
        if self.is_empty() or radius <= 0.05:
            return self
        pad = int(math.ceil(radius * 3)) + 1
        x0, y0 = max(0, self.x0 - pad), max(0, self.y0 - pad)
        x1, y1 = min(width, self.x1 + pad), min(height, self.y1 + pad)
        grid = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
        grid[self.y0 - y0 : self.y1 - y0, self.x0 - x0 : self.x1 - x0] = self.a
        img = Image.fromarray(np.rint(grid * 255.0).astype(np.uint8))
        img = img.filter(ImageFilter.GaussianBlur(radius))
        return Mask(x0, y0, np.asarray(img, dtype=np.float32) / np.float32(255.0))


class Raster:
    """Turns polygons and strokes given in output pixels into coverage masks."""

    def __init__(self, width: int, height: int, supersample: int = 3) -> None:
        self.width = width
        self.height = height
        self.ss = supersample

    def _box(self, p: Points, grow: float) -> tuple[int, int, int, int] | None:
        x0 = max(0, int(math.floor(float(p[:, 0].min()) - grow)) - 1)
        y0 = max(0, int(math.floor(float(p[:, 1].min()) - grow)) - 1)
        x1 = min(self.width, int(math.ceil(float(p[:, 0].max()) + grow)) + 2)
        y1 = min(self.height, int(math.ceil(float(p[:, 1].max()) + grow)) + 2)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1

    def _canvas(self, box: tuple[int, int, int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        x0, y0, x1, y1 = box
        img = Image.new("L", ((x1 - x0) * self.ss, (y1 - y0) * self.ss), 0)
        return img, ImageDraw.Draw(img)

    def _to_ss(self, p: Points, box: tuple[int, int, int, int]) -> list[float]:
        # PIL treats integer coordinates as pixel centres; our pixel i spans [i, i + 1).
        q = (p - np.asarray([box[0], box[1]], dtype=np.float64)) * self.ss - 0.5
        return [float(v) for v in q.ravel()]

    def _finish(self, img: Image.Image, box: tuple[int, int, int, int]) -> Mask:
        small = img.reduce(self.ss) if self.ss > 1 else img
        return Mask(box[0], box[1], np.asarray(small, dtype=np.float32) / np.float32(255.0))

    def fill(self, *polygons: Points) -> Mask:
        """The union of the given closed polygons (output pixel coordinates)."""
        polys = [p for p in polygons if len(p) >= 3]
        if not polys:
            return Mask.empty()
        box = self._box(np.concatenate(polys, axis=0), 0.0)
        if box is None:
            return Mask.empty()
        img, draw = self._canvas(box)
        for p in polys:
            draw.polygon(self._to_ss(p, box), fill=255)
        return self._finish(img, box)

    def stroke(self, p: Points, widths: float | npt.NDArray[np.float64], closed: bool = False) -> Mask:
        """A round-capped, round-joined stroke along ``p``; ``widths`` (pixels) may vary per point."""
        if len(p) < 2:
            return Mask.empty()
        w = np.broadcast_to(np.asarray(widths, dtype=np.float64), (len(p),)).copy()
        if closed:
            p = np.concatenate([p, p[:1]], axis=0)
            w = np.concatenate([w, w[:1]])
        box = self._box(p, float(w.max()) / 2 + 1)
        if box is None:
            return Mask.empty()
        img, draw = self._canvas(box)
        q = (p - np.asarray([box[0], box[1]], dtype=np.float64)) * self.ss - 0.5
        r = w * self.ss / 2
        seg = np.hypot(*np.diff(q, axis=0).T)
        keep = np.concatenate([[True], seg > 1e-6])
        q, r = q[keep], r[keep]
        if len(q) >= 2:
            for start, end in _smooth_runs(q, r):
                # one ribbon polygon per smooth run: far fewer draw calls than a quad per segment
                draw.polygon(_ribbon(q[start : end + 1], r[start : end + 1]), fill=255)
                for i in (start, end):
                    _disc(draw, q[i], r[i])
        else:
            _disc(draw, q[0], r[0])
        return self._finish(img, box)


def _disc(draw: ImageDraw.ImageDraw, c: npt.NDArray[np.float64], radius: float) -> None:
    if radius >= 0.35:
        x, y = float(c[0]), float(c[1])
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)


def _smooth_runs(q: Points, r: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """Split a polyline where it turns sharply or bends tighter than the stroke is wide.

    A ribbon (the polyline offset both ways) is only a clean shape where neither happens; the
    split points get round joins instead.
    """
    d = np.diff(q, axis=0)
    length = np.hypot(d[:, 0], d[:, 1])
    t = d / length[:, None]
    cos_turn = np.clip((t[:-1] * t[1:]).sum(axis=1), -1.0, 1.0)
    turn = np.arccos(cos_turn)
    radius = np.minimum(length[:-1], length[1:]) / np.maximum(turn, 1e-9)
    breaks = np.nonzero((turn > math.radians(25)) | (r[1:-1] > 0.8 * radius))[0] + 1
    edges = [0, *[int(b) for b in breaks], len(q) - 1]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _ribbon(q: Points, r: npt.NDArray[np.float64]) -> list[float]:
    """The outline of a variable-width band along a gently curving polyline (flat ends)."""
    d = np.diff(q, axis=0)
    n = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.hypot(d[:, 0], d[:, 1])[:, None]
    nv = np.concatenate([n[:1], n[:-1] + n[1:], n[-1:]], axis=0)
    nv /= np.maximum(np.hypot(nv[:, 0], nv[:, 1]), 1e-9)[:, None]
    left = q + nv * r[:, None]
    right = q - nv * r[:, None]
    return [float(v) for v in np.concatenate([left, right[::-1]], axis=0).ravel()]


# --------------------------------------------------------------------------- compositing


class Canvas:
    """A premultiplied RGBA float canvas; paint masks in colours or gradients, read out an image."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.rgb = np.zeros((height, width, 3), dtype=np.float32)
        self.alpha = np.zeros((height, width), dtype=np.float32)

    def copy(self) -> Canvas:
        out = Canvas(self.width, self.height)
        out.rgb = self.rgb.copy()
        out.alpha = self.alpha.copy()
        return out

    def paint(self, m: Mask, color: RGB | npt.NDArray[np.float32], opacity: float = 1.0, under: bool = False) -> None:
        """Paint ``color`` through ``m`` (over what is there, or beneath it when ``under``)."""
        if m.is_empty() or opacity <= 0.0:
            return
        a = m.a if opacity >= 1.0 else m.a * np.float32(opacity)
        c = np.asarray(color, dtype=np.float32)
        ys, xs = slice(m.y0, m.y1), slice(m.x0, m.x1)
        dst_rgb, dst_a = self.rgb[ys, xs], self.alpha[ys, xs]
        if under:
            k = a * (1.0 - dst_a)
            dst_rgb += c * k[..., None]
            dst_a += k
        else:
            keep = 1.0 - a
            dst_rgb *= keep[..., None]
            dst_rgb += c * a[..., None]
            dst_a *= keep
            dst_a += a

    def linear(
        self, m: Mask, p0: tuple[float, float], p1: tuple[float, float], c0: RGB, c1: RGB
    ) -> npt.NDArray[np.float32]:
        """Colours of a linear gradient from ``p0`` (``c0``) to ``p1`` (``c1``) over ``m``'s box."""
        h, w = m.a.shape
        ys, xs = np.mgrid[m.y0 : m.y0 + h, m.x0 : m.x0 + w].astype(np.float32) + np.float32(0.5)
        dx, dy = p1[0] - p0[0], p1[1] - p0[1]
        denom = dx * dx + dy * dy or 1.0
        t = np.clip(((xs - p0[0]) * dx + (ys - p0[1]) * dy) / denom, 0.0, 1.0)
        t = t * t * (3.0 - 2.0 * t)
        a, b = np.asarray(c0, dtype=np.float32), np.asarray(c1, dtype=np.float32)
        out: npt.NDArray[np.float32] = (a + (b - a) * t[..., None]).astype(np.float32)
        return out

    def to_image(self) -> Image.Image:
        """Straight-alpha RGBA 8-bit image of the canvas."""
        a = np.clip(self.alpha, 0.0, 1.0)
        safe = np.where(a > 1e-6, a, 1.0)[..., None]
        color = np.clip(self.rgb / safe, 0.0, 1.0)
        out = np.empty((self.height, self.width, 4), dtype=np.uint8)
        out[..., :3] = np.rint(color * 255.0).astype(np.uint8)
        out[..., 3] = np.rint(a * 255.0).astype(np.uint8)
        out[out[..., 3] == 0] = 0
        return Image.fromarray(out)
