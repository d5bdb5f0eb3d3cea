"""Dynamic time warping between two feature sequences, banded and multiscale (pure numpy, no I/O).

Why hand-written: no DTW exists in numpy or scipy, and the libraries that have one either
build the full ``N x M`` cost matrix (a 10 minute recording at 100 frames per second would
need 36e8 cells) or need numba or C extensions we do not ship. Here the recurrence runs one
row at a time over a window of columns, and the row is vectorised: with the steps diagonal
(weight 2), vertical and horizontal (weight 1) the horizontal chain within a row is a running
minimum, ``D[j] = S[j] + min_{k<=j}(E[k] - S[k])`` where ``S`` is the row's cumulative cost and
``E`` the best arrival from the row above. Python loops once per row, numpy does the rest.

:func:`align_multiscale` is FastDTW's scheme: solve a pooled (coarser) problem in full, then
at each finer level search only a band of ``radius`` frames around the coarse path projected
down. Memory is one int8 step per cell of the band, so linear in the length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamer.speech.alignment.features import pool

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]

DIAGONAL, VERTICAL, HORIZONTAL = 0, 1, 2
MAX_FULL_CELLS = 4_000_000  # the coarsest level is solved in full below this many cells


@dataclass(frozen=True)
class Path:
    """A warping path: ``rows[k]`` of the first sequence is matched with ``cols[k]`` of the second.

    Both are non-decreasing, start at ``(0, 0)`` and end at ``(n - 1, m - 1)``; consecutive
    pairs differ by one step (diagonal, vertical or horizontal). ``cost[k]`` is the local
    distance of pair ``k``.
    """

    rows: Ints
    cols: Ints
    cost: npt.NDArray[np.float64]


def _check_window(lo: Ints, hi: Ints, m: int) -> None:
    if lo[0] != 0 or hi[-1] != m:
        raise ValueError("window: must contain (0, 0) and (n - 1, m - 1)")
    if np.any(hi <= lo) or np.any(np.diff(lo) < 0) or np.any(np.diff(hi) < 0) or np.any(lo[1:] > hi[:-1]):
        raise ValueError("window: rows must be non-empty, monotone and overlapping")


def align_window(a: Floats, b: Floats, lo: Ints, hi: Ints, open_end: bool = False) -> Path:
    """The cheapest path between ``a`` (rows) and ``b`` (columns) inside a window of columns.

    Row ``i`` may use columns ``lo[i] <= j < hi[i]``; the window must be monotone, contain both
    corners and let each row overlap the one before. Raises ``ValueError`` otherwise. With
    ``open_end`` the path may end at any row (the one with the lowest cost per unit of path
    weight, which is ``row + m`` for these step weights): the rows after it match nothing.
    """
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        raise ValueError("sequences: both must have at least one frame")
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    _check_window(lo, hi, m)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(hi - lo, out=offsets[1:])
    steps = np.empty(int(offsets[-1]), dtype=np.int8)
    b64 = b.astype(np.float64)
    b_sq = (b64**2).sum(1)
    inf = np.inf
    prev = np.empty(0)
    plo = phi = 0
    last_col = np.full(n, np.inf)
    for i in range(n):
        j0, j1 = int(lo[i]), int(hi[i])
        x = a[i].astype(np.float64)
        cost = np.sqrt(np.maximum(b_sq[j0:j1] + x @ x - 2.0 * (b64[j0:j1] @ x), 0.0))
        width = j1 - j0
        if i == 0:
            row = np.cumsum(cost)
            step = np.full(width, HORIZONTAL, dtype=np.int8)
            step[0] = DIAGONAL
        else:
            # From the row above: D[i-1, j] (vertical) and D[i-1, j-1] (diagonal), inf outside.
            up = np.full(width, inf)
            diag = np.full(width, inf)
            s, e = max(j0, plo), min(j1, phi)
            if e > s:
                up[s - j0 : e - j0] = prev[s - plo : e - plo]
            s, e = max(j0, plo + 1), min(j1, phi + 1)
            if e > s:
                diag[s - j0 : e - j0] = prev[s - 1 - plo : e - 1 - plo]
            via_diag = diag + 2.0 * cost
            via_up = up + cost
            arrive = np.minimum(via_diag, via_up)
            step = np.where(via_diag <= via_up, DIAGONAL, VERTICAL).astype(np.int8)
            cum = np.cumsum(cost)
            rel = arrive - cum
            best = np.minimum.accumulate(rel)
            along = rel > best  # cheaper to arrive earlier in this row and walk right
            row = np.where(along, cum + best, arrive)
            step[along] = HORIZONTAL
        steps[offsets[i] : offsets[i + 1]] = step
        prev, plo, phi = row, j0, j1
        if j1 == m:
            last_col[i] = row[-1]
    end = int(np.argmin(last_col / (np.arange(n) + m))) if open_end else n - 1
    return _backtrack(a, b, lo, offsets, steps, end)


def _backtrack(a: Floats, b: Floats, lo: Ints, offsets: Ints, steps: npt.NDArray[np.int8], end: int) -> Path:
    i, j = end, len(b) - 1
    rows, cols = [i], [j]
    lo_list, off_list, step_list = lo.tolist(), offsets.tolist(), steps
    while i > 0 or j > 0:
        step = step_list[off_list[i] + j - lo_list[i]]
        if step == DIAGONAL:
            i, j = i - 1, j - 1
        elif step == VERTICAL:
            i -= 1
        else:
            j -= 1
        rows.append(i)
        cols.append(j)
    r = np.array(rows[::-1], dtype=np.int64)
    c = np.array(cols[::-1], dtype=np.int64)
    diff = a[r].astype(np.float64) - b[c].astype(np.float64)
    return Path(r, c, np.sqrt((diff**2).sum(1)))


def full_window(n: int, m: int) -> tuple[Ints, Ints]:
    """Every column for every row."""
    return np.zeros(n, dtype=np.int64), np.full(n, m, dtype=np.int64)


def project(path: Path, factor: int, n: int, m: int, radius: int) -> tuple[Ints, Ints]:
    """The window at ``factor`` times the resolution of ``path``, widened by ``radius`` frames.

    Each coarse pair covers a ``factor x factor`` block of the fine problem (``n x m``). Fine
    row ``i`` may use the columns of every coarse row within ``radius`` fine rows of it, plus
    ``radius`` columns either side. The path is monotone, so the first and last columns of
    the coarse rows are non-decreasing and the union is one interval.
    """
    coarse_n = int(path.rows[-1]) + 1
    first = np.full(coarse_n, np.iinfo(np.int64).max)
    last = np.full(coarse_n, -1)
    np.minimum.at(first, path.rows, path.cols)
    np.maximum.at(last, path.rows, path.cols)
    fine = np.arange(n)
    below = np.clip((fine - radius) // factor, 0, coarse_n - 1)
    above = np.clip((fine + radius) // factor, 0, coarse_n - 1)
    lo = np.clip(first[below] * factor - radius, 0, m - 1)
    hi = np.clip((last[above] + 1) * factor + radius, 1, m)
    lo[0], hi[-1] = 0, m
    return lo.astype(np.int64), hi.astype(np.int64)


def align_multiscale(a: Floats, b: Floats, radius: int = 16, factor: int = 4, open_end: bool = False) -> Path:
    """The DTW path between ``a`` and ``b``: exact at the coarsest level, banded above it.

    Pools both sequences by ``factor`` until the coarse problem has at most
    :data:`MAX_FULL_CELLS` cells, solves it in full, then refines level by level inside
    ``radius`` frames of the projected path. Time and memory grow linearly with the length
    (``O((n + m) * radius)`` per level). With ``open_end`` the coarsest level chooses where
    ``b`` ends in ``a`` (see :func:`align_window`) and the finer levels keep to it: the
    path may end before the last row of ``a``.
    """
    if len(a) == 0 or len(b) == 0:
        raise ValueError("sequences: both must have at least one frame")
    levels = [(a, b)]
    while len(levels[-1][0]) * len(levels[-1][1]) > MAX_FULL_CELLS and min(map(len, levels[-1])) > 2 * radius:
        ca, cb = levels[-1]
        levels.append((pool(ca, factor), pool(cb, factor)))
    ca, cb = levels[-1]
    path = align_window(ca, cb, *full_window(len(ca), len(cb)), open_end=open_end)
    for fa, fb in reversed(levels[:-1]):
        fa = fa[: min(len(fa), (int(path.rows[-1]) + 1) * factor)]
        lo, hi = project(path, factor, len(fa), len(fb), radius)
        path = align_window(fa, fb, lo, hi, open_end=open_end)
    return path
