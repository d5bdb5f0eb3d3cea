"""Writes the demo rig folder (rig.json, endpoints, tween sequences) in parallel and atomically (does I/O)."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamer.demo.character import render
from streamer.demo.params import FaceParams, expression_params, interpolate
from streamer.demo.png import encode_png
from streamer.demo.spec import POSE_HUB, POSE_MOVERS, RIG_NAME, RIG_SPEC, TWEEN_TS, frame_file, path_tweens

logger = logging.getLogger(__name__)

DEFAULT_SIZE = (512, 768)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FrameJob:
    """One image of the rig: where it goes (a POSIX key below the rig root) and the face to draw."""

    key: str
    params: FaceParams


@dataclass(frozen=True)
class Plan:
    """Everything the rig folder will hold: the images to draw and the JSON documents to write."""

    frames: tuple[FrameJob, ...]
    documents: tuple[tuple[str, dict[str, Any]], ...]


def _frames_doc(ts: tuple[float, ...] = TWEEN_TS) -> list[dict[str, Any]]:
    return [{"t": t, "file": frame_file(t)} for t in ts]


def plan_rig(size: tuple[int, int] = DEFAULT_SIZE) -> Plan:
    """The demo rig's files, in a stable order (pure; nothing is drawn or written)."""
    spec = RIG_SPEC
    poses: list[str] = list(spec["poses"])
    frames: list[FrameJob] = []
    docs: list[tuple[str, dict[str, Any]]] = [("rig.json", {"name": RIG_NAME, "size": [size[0], size[1]], **spec})]
    for expr in spec["expressions"]:
        for pose in poses:
            frames.append(FrameJob(f"endpoints/{expr}__{pose}.png", expression_params(expr, pose)))
    for path in spec["base_paths"]:
        for pose in poses:
            folder = f"sequences/{path['id']}__{pose}"
            a = expression_params(path["start"], pose)
            b = expression_params(path["end"], pose)
            ts = path_tweens(path["id"])
            frames.extend(FrameJob(f"{folder}/{frame_file(t)}", interpolate(a, b, t)) for t in ts)
            docs.append(
                (
                    f"{folder}/manifest.json",
                    {
                        "path_id": path["id"],
                        "expr_start": path["start"],
                        "expr_end": path["end"],
                        "pose": pose,
                        "frames": _frames_doc(ts),
                    },
                )
            )
    for expr in POSE_MOVERS:
        for pose in poses:
            if pose == POSE_HUB:
                continue
            path_id = f"{expr}_{POSE_HUB}_to_{expr}_{pose}"
            folder = f"sequences/{path_id}"
            a = expression_params(expr, POSE_HUB)
            b = expression_params(expr, pose)
            frames.extend(FrameJob(f"{folder}/{frame_file(t)}", interpolate(a, b, t)) for t in TWEEN_TS)
            docs.append(
                (
                    f"{folder}/manifest.json",
                    {
                        "path_id": path_id,
                        "expr_start": expr,
                        "expr_end": expr,
                        "pose_start": POSE_HUB,
                        "pose_end": pose,
                        "frames": _frames_doc(),
                    },
                )
            )
    return Plan(frames=tuple(frames), documents=tuple(docs))


def draw_frame(job: FrameJob, size: tuple[int, int]) -> bytes:
    """PNG bytes of one rig image (deterministic)."""
    return encode_png(render(job.params, size))


# --------------------------------------------------------------------------- workers

_worker_root: Path | None = None
_worker_size: tuple[int, int] = DEFAULT_SIZE


def _init_worker(root: str, size: tuple[int, int]) -> None:
    global _worker_root, _worker_size
    _worker_root, _worker_size = Path(root), size


def _write_frame(job: FrameJob) -> str:
    assert _worker_root is not None
    _write_bytes(_worker_root / job.key, draw_frame(job, _worker_size))
    return job.key


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _run(jobs: tuple[FrameJob, ...], root: Path, size: tuple[int, int], workers: int) -> Iterator[str]:
    if workers <= 1:
        _init_worker(str(root), size)
        for job in jobs:
            yield _write_frame(job)
        return
    # spawn, not fork: safe to call from a process that already runs threads (a server)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(str(root), size)) as pool:
        yield from pool.imap_unordered(_write_frame, jobs, chunksize=2)


# --------------------------------------------------------------------------- the folder


def _check_target(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"demo rig target {str(out_dir)!r} exists and is not a folder")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(
            f"demo rig target {str(out_dir)!r} is not empty; "
            "choose an empty or new folder, or pass overwrite=True to replace a previous rig"
        )
    if not (out_dir / "rig.json").is_file():
        raise FileExistsError(
            f"demo rig target {str(out_dir)!r} is not empty and holds no rig.json; "
            "refusing to replace a folder that is not a rig"
        )


def write_demo_rig(
    out_dir: Path,
    size: tuple[int, int] = DEFAULT_SIZE,
    progress: Progress | None = None,
    workers: int | None = None,
    *,
    overwrite: bool = False,
) -> None:
    """Draw the demo character's whole rig into ``out_dir``.

    ``size`` is (width, height) in pixels (2:3 looks best; any aspect works). ``progress(done,
    total)`` is called after each image is written. ``workers`` processes draw in parallel
    (default: one per CPU; 1 draws in this process). Workers are *spawned*, so a script that
    calls this with several workers needs the usual ``if __name__ == "__main__":`` guard. The
    rig is built in a hidden sibling folder and renamed into place, so a crash or an interrupt
    never leaves half a rig behind, and a replaced rig survives a failed run.

    Raises ``FileExistsError`` if ``out_dir`` is not empty (unless ``overwrite`` and it holds a
    previous rig) and ``ValueError`` for a size too small to draw.
    """
    out_dir = Path(out_dir)
    width, height = int(size[0]), int(size[1])
    if width < 16 or height < 16:
        raise ValueError(f"demo rig size must be at least 16x16 pixels, got {width}x{height}")
    _check_target(out_dir, overwrite)
    plan = plan_rig((width, height))
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(plan.frames)))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    logger.info("drawing demo rig: %d images at %dx%d with %d workers", len(plan.frames), width, height, n_workers)
    try:
        for key, doc in plan.documents:
            _write_bytes(tmp / key, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
        total = len(plan.frames)
        for done, _key in enumerate(_run(plan.frames, tmp, (width, height), n_workers), 1):
            if progress is not None:
                progress(done, total)
        _check_target(out_dir, overwrite)  # someone may have written there meanwhile
        if out_dir.exists():
            out_dir.rename(old)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out_dir.exists():
            old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
    logger.info("demo rig written to %s", out_dir)
