"""``streamer rig tween``: every sequence a rig needs, made offline from its endpoint images (does I/O).

Which sequences: each base path of ``rig.json`` at every pose (``{path}__{pose}``) and the
neutral head moves from the first pose to each other one
(``neutral_{hub}_to_neutral_{pose}``), which is what routing needs to reach every state.
Each gets ``frames`` in-betweens at ``t = i / (frames + 1)`` and a face_rig manifest. The
images show the eased place ``smoothstep(t)`` (as drawn rigs do), so playback at an even frame
rate eases in and out; ``ease=False`` shows ``t`` itself.

Sequences are made in a process pool, one job per sequence, each written to a hidden folder
and renamed into place, so an interrupted run leaves only whole sequences and a rerun makes
what is missing.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamer.core.errors import RigError
from streamer.core.rig import RigConfig, State

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
MAX_FRAMES = 15


@dataclass(frozen=True)
class TweenJob:
    """One sequence to make: its folder name, its end states and its manifest."""

    name: str
    start: State
    end: State
    manifest: dict[str, Any]

    @property
    def start_key(self) -> str:
        return f"endpoints/{self.start.expr}__{self.start.pose}.png"

    @property
    def end_key(self) -> str:
        return f"endpoints/{self.end.expr}__{self.end.pose}.png"


@dataclass(frozen=True)
class TweenReport:
    """What a run made and what it kept."""

    made: tuple[str, ...]
    kept: tuple[str, ...]
    frames: int
    seconds: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)


def hub_state(config: RigConfig) -> State:
    """The state head moves start from: ``neutral`` (or the first expression) at the first pose."""
    expr = "neutral" if "neutral" in config.expressions else next(iter(config.expressions))
    return State(expr, config.poses[0])


def frame_times(frames: int) -> tuple[float, ...]:
    if not 1 <= frames <= MAX_FRAMES:
        raise ValueError(f"frames must be in [1, {MAX_FRAMES}], got {frames}")
    return tuple(round(i / (frames + 1), 4) for i in range(1, frames + 1))


def frame_file(t: float) -> str:
    return f"{round(t * 100):03d}.png"


def plan_tweens(config: RigConfig, frames: int = 3) -> list[TweenJob]:
    """Every sequence ``config`` needs, in a stable order (pure)."""
    doc = [{"t": t, "file": frame_file(t)} for t in frame_times(frames)]
    jobs: list[TweenJob] = []
    for bp in config.base_paths:
        for pose in config.poses:
            manifest = {"path_id": bp.id, "expr_start": bp.start, "expr_end": bp.end, "pose": pose, "frames": doc}
            jobs.append(TweenJob(f"{bp.id}__{pose}", State(bp.start, pose), State(bp.end, pose), manifest))
    hub = hub_state(config)
    for pose in config.poses[1:]:
        name = f"{hub.expr}_{hub.pose}_to_{hub.expr}_{pose}"
        manifest = {
            "path_id": name,
            "expr_start": hub.expr,
            "expr_end": hub.expr,
            "pose_start": hub.pose,
            "pose_end": pose,
            "frames": doc,
        }
        jobs.append(TweenJob(name, hub, State(hub.expr, pose), manifest))
    return jobs


# --------------------------------------------------------------------------- workers

_worker: dict[str, Any] = {}


def _init_worker(root: str, ease: bool) -> None:
    import cv2

    cv2.setNumThreads(1)  # the pool is the parallelism; OpenCV's own threads would fight it
    _worker.update(root=Path(root), ease=ease)


def _make_sequence(job: TweenJob) -> tuple[str, str | None]:
    """Make one sequence folder; ``(name, None)`` or ``(name, reason)`` when it failed."""
    from streamer.rigs.files import read_rgba, write_png
    from streamer.rigs.interp import tween

    root: Path = _worker["root"]
    try:
        a = read_rgba(root / job.start_key)
        b = read_rgba(root / job.end_key)
        ts = [float(f["t"]) for f in job.manifest["frames"]]
        shown = [_ease(t) for t in ts] if _worker["ease"] else ts
        images = tween(a, b, shown)
        final = root / "sequences" / job.name
        tmp = root / "sequences" / f".{job.name}.partial-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for item, image in zip(job.manifest["frames"], images, strict=True):
            write_png(tmp / item["file"], image)
        (tmp / "manifest.json").write_text(json.dumps(job.manifest, indent=2) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except (OSError, ValueError) as exc:
        return job.name, str(exc)
    return job.name, None


def _ease(t: float) -> float:
    return t * t * (3.0 - 2.0 * t)


def _run(jobs: list[TweenJob], root: Path, ease: bool, workers: int) -> Iterator[tuple[str, str | None]]:
    if workers <= 1:
        _init_worker(str(root), ease)
        for job in jobs:
            yield _make_sequence(job)
        return
    ctx = multiprocessing.get_context("spawn")  # safe from a process that already runs threads
    with ctx.Pool(workers, initializer=_init_worker, initargs=(str(root), ease)) as pool:
        yield from pool.imap_unordered(_make_sequence, jobs)


# --------------------------------------------------------------------------- the rig


def _has_sequence(root: Path, name: str) -> bool:
    return (root / "sequences" / name / "manifest.json").is_file()


def tween_rig(
    root: Path,
    frames: int = 3,
    *,
    redo: bool = False,
    ease: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
) -> TweenReport:
    """Make the sequences ``root``'s rig lacks (every one with ``redo``).

    Raises :class:`RigError` when the config is bad or an endpoint is missing, unreadable or
    of another size (nothing is written then).
    """
    import time

    from streamer.rigs.files import check_images, read_config

    started = time.perf_counter()
    root = Path(root)
    config = read_config(root)
    jobs = plan_tweens(config, frames)
    ends = sorted({k for j in jobs for k in (j.start_key, j.end_key)})
    problems = check_images(root, ends, config.size)
    if problems:
        raise RigError(problems)
    todo = [j for j in jobs if redo or not _has_sequence(root, j.name)]
    kept = tuple(j.name for j in jobs if j not in todo)
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    log.info("tweening %d sequences (%d kept) with %d workers", len(todo), len(kept), n_workers)
    made: list[str] = []
    failed: dict[str, str] = {}
    if progress is not None:
        progress(0, len(todo))
    for done, (name, reason) in enumerate(_run(todo, root, ease, n_workers), 1):
        if reason is None:
            made.append(name)
        else:
            failed[name] = reason
        if progress is not None:
            progress(done, len(todo))
    return TweenReport(
        made=tuple(sorted(made)),
        kept=kept,
        frames=len(made) * frames,
        seconds=time.perf_counter() - started,
        failed=failed,
    )
