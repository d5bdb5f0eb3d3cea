"""Compact, deterministic PNG encoding of RGBA frames as 8-bit palettes with alpha (pure, no I/O).

Pillow's only RGBA quantiser (fast octree) bands smooth shading badly, so this module builds the
palette itself: fully transparent pixels share one entry and the other colours are split by
variance, in rounds (the boxes whose colours stray most from their mean are cut where the error
drops most), which spends the palette on the gradients that need it. A frame with at most 255
colours is stored losslessly. Decoders see a palette PNG with alpha: ``.convert("RGBA")`` it.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image

_DIM_WEIGHT = np.asarray([1.0, 1.15, 0.9, 1.3])  # green and alpha errors show the most


def _box_stats(
    lab: npt.NDArray[np.intp], colors: npt.NDArray[np.float64], w: npt.NDArray[np.float64], nb: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per box: total weight, weighted sum of colours, weighted sum of squares (per axis)."""

    def per_box(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(np.bincount(lab, values, nb), dtype=np.float64)  # weighted: floats

    dims = range(colors.shape[1])
    s1 = np.stack([per_box(w * colors[:, d]) for d in dims], axis=1)
    s2 = np.stack([per_box(w * colors[:, d] ** 2) for d in dims], axis=1)
    return per_box(w), s1, s2


def _palette(colors: npt.NDArray[np.float64], w: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.float64]:
    """Up to ``k`` colours by splitting the worst boxes, many at a time (vectorised rounds).

    Each round splits the boxes with the largest error (all of them while there are few, then
    at most half), each along its widest-spread axis at the cut that leaves the least error.
    """
    n = len(colors)
    lab = np.zeros(n, dtype=np.intp)
    nb = 1
    while nb < k:
        total, s1, s2 = _box_stats(lab, colors, w, nb)
        spread = s2 - s1 * s1 / total[:, None]
        sse = spread.sum(axis=1)
        budget = k - nb if nb < 32 else min(k - nb, nb // 2)
        chosen = np.argsort(-sse, kind="stable")[:budget]
        chosen = chosen[sse[chosen] > 1e-3]
        if chosen.size == 0:
            break
        axis = np.argmax(spread, axis=1)
        picked = np.zeros(nb, dtype=bool)
        picked[chosen] = True
        idx = np.flatnonzero(picked[lab])
        box = lab[idx]
        value = colors[idx, axis[box]]
        order = np.lexsort((value, box))
        idx, box, value = idx[order], box[order], value[order]
        c, ww = colors[idx], w[idx]
        wc = c * ww[:, None]
        cw = np.cumsum(ww)
        c1 = np.cumsum(wc, axis=0)
        c2 = np.cumsum((wc * c).sum(axis=1))
        new_seg = np.r_[True, box[1:] != box[:-1]]
        start = np.flatnonzero(new_seg)
        seg = np.cumsum(new_seg) - 1
        before = start - 1  # cumulative sums up to the previous segment (none for the first)
        base_w = np.where(before >= 0, cw[before], 0.0)
        base_1 = np.where(before[:, None] >= 0, c1[before], 0.0)
        base_2 = np.where(before >= 0, c2[before], 0.0)
        lw = cw - base_w[seg]
        l1 = c1 - base_1[seg]
        l2 = c2 - base_2[seg]
        rw = total[box] - lw
        r1 = s1[box] - l1
        r2 = s2[box].sum(axis=1) - l2
        # a cut after position i is valid inside one box and between two different values
        valid = np.r_[(box[1:] == box[:-1]) & (value[1:] != value[:-1]), False]
        with np.errstate(divide="ignore", invalid="ignore"):
            err = l2 - (l1 * l1).sum(axis=1) / lw + r2 - (r1 * r1).sum(axis=1) / rw
        err = np.where(valid, err, np.inf)
        pos = np.arange(len(idx))
        best = np.lexsort((pos, err, seg))[start]  # first least-error cut in each box
        ok = np.isfinite(err[best])
        if not ok.any():
            break
        new_label = np.where(ok, nb + np.cumsum(ok) - 1, -1)
        right = ok[seg] & (pos > best[seg])
        lab[idx[right]] = new_label[seg[right]]
        nb += int(ok.sum())
    total, s1, _ = _box_stats(lab, colors, w, nb)
    out: npt.NDArray[np.float64] = s1 / total[:, None]
    return out


def quantize(img: Image.Image, colors: int = 256) -> Image.Image:
    """An RGBA image as a palette image (mode ``P``) with per-entry alpha in ``info``."""
    rgba = np.ascontiguousarray(np.asarray(img.convert("RGBA"), dtype=np.uint8))
    h, w = rgba.shape[:2]
    packed = rgba.reshape(-1, 4).view(np.uint32).ravel()
    visible = rgba[..., 3].ravel() > 0
    uniq, inverse, counts = np.unique(packed[visible], return_inverse=True, return_counts=True)
    uniq_rgba = uniq.view(np.uint8).reshape(-1, 4).astype(np.float64)
    slots = colors - 1  # entry 0 is "fully transparent"
    if len(uniq) <= slots:
        pal = uniq_rgba
        nearest = np.arange(len(uniq))
    else:
        scaled = uniq_rgba * _DIM_WEIGHT
        pal_scaled = _palette(scaled, counts.astype(np.float64), slots)
        nearest = np.empty(len(uniq), dtype=np.intp)
        for start in range(0, len(uniq), 4096):
            chunk = scaled[start : start + 4096]
            d = np.zeros((len(chunk), len(pal_scaled)))
            for axis in range(4):  # per channel: no 3-D temporary, same sums every run
                diff = chunk[:, axis, None] - pal_scaled[None, :, axis]
                d += diff * diff
            nearest[start : start + 4096] = np.argmin(d, axis=1)
        pal = pal_scaled / _DIM_WEIGHT
    pal8 = np.clip(np.rint(pal), 0, 255).astype(np.uint8)
    index = np.zeros(h * w, dtype=np.uint8)
    index[visible] = (nearest[inverse.ravel()] + 1).astype(np.uint8)
    out = Image.frombytes("P", (w, h), index.tobytes())
    entries = np.zeros((colors, 4), dtype=np.uint8)
    entries[1 : 1 + len(pal8)] = pal8
    out.putpalette(entries[:, :3].ravel().tobytes(), rawmode="RGB")
    out.info["transparency"] = entries[:, 3].tobytes()
    return out


def encode_png(img: Image.Image, palette: bool = True) -> bytes:
    """PNG bytes of ``img`` (palette-quantised unless ``palette`` is false); same input, same bytes."""
    buf = io.BytesIO()
    if palette:
        q = quantize(img)
        q.save(buf, format="PNG", optimize=True, transparency=q.info["transparency"])
    else:
        img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
