"""The export worker process: ``python -m streamer.export.worker`` renders one export (I/O).

The job manager runs each export in one of these so that decoding and encoding never hold the
server's GIL, and at a lower CPU priority than the live server. Protocol: the parent writes one
pickled :class:`WorkerTask` to stdin and closes it; the worker writes JSON lines to stdout:
``{"type": "progress", "done", "total", "stage"}`` (at most ~10 a second, and on every stage
change), then ``{"type": "done", "result": {...}}`` or ``{"type": "error", "kind", "message"}``.
The parent cancels by killing the process; it then removes the temp file the worker left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from streamer.core.errors import StreamerError
from streamer.export import errors as export_errors
from streamer.export.errors import ExportError
from streamer.export.options import ExportOptions
from streamer.export.render import AudioSource, RenderResult, render_frames

PROGRESS_INTERVAL_S = 0.1
WORKER_NICE = 10


@dataclass(frozen=True)
class WorkerTask:
    """Everything one export needs, with the frames already fetched (the worker does no store I/O)."""

    keys: list[str]
    pngs: dict[str, bytes]
    audio: AudioSource | None
    options: ExportOptions
    output: Path
    render_kwargs: dict[str, Any] = field(default_factory=dict)


def result_to_json(result: RenderResult) -> dict[str, Any]:
    doc = dataclasses.asdict(result)
    doc["path"] = str(result.path)
    return doc


def result_from_json(doc: dict[str, Any]) -> RenderResult:
    return RenderResult(**{**doc, "path": Path(doc["path"])})


def error_from_json(doc: dict[str, Any]) -> StreamerError:
    """The worker's error as our exception class (:class:`ExportError` for anything unknown)."""
    cls = getattr(export_errors, str(doc.get("kind")), None)
    if not (isinstance(cls, type) and issubclass(cls, ExportError)):
        cls = ExportError
    return cls(str(doc.get("message") or "export failed"))


def _send(out: IO[str], doc: dict[str, Any]) -> None:
    out.write(json.dumps(doc) + "\n")
    out.flush()


def run(task: WorkerTask, out: IO[str]) -> int:
    last_at, last_stage = 0.0, ""

    def progress(done: int, total: int, stage: str) -> None:
        nonlocal last_at, last_stage
        now = time.monotonic()
        if stage != last_stage or now - last_at >= PROGRESS_INTERVAL_S or done == total:
            last_at, last_stage = now, stage
            _send(out, {"type": "progress", "done": done, "total": total, "stage": stage})

    try:
        result = render_frames(
            task.keys, task.pngs, task.audio, task.options, progress, output=task.output, **task.render_kwargs
        )
    except StreamerError as exc:
        _send(out, {"type": "error", "kind": type(exc).__name__, "message": str(exc)})
        return 1
    except Exception as exc:  # report, then let the parent log it as a failed job
        logging.getLogger(__name__).exception("export worker crashed")
        _send(out, {"type": "error", "kind": "ExportError", "message": f"internal error: {type(exc).__name__}"})
        return 1
    _send(out, {"type": "done", "result": result_to_json(result)})
    return 0


def lower_priority() -> None:
    """Leave the CPU to the live server: SCHED_IDLE on Linux (threads inherit it), else nice (best effort)."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(WORKER_NICE)
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def main() -> int:
    lower_priority()
    # Run as __main__, this file is a second copy of the module: use the importable one's classes.
    from streamer.export import worker

    task = pickle.load(sys.stdin.buffer)  # from our own parent process only
    if not isinstance(task, worker.WorkerTask):
        raise SystemExit("export worker: expected a WorkerTask on stdin")
    # The protocol gets its own copy of stdout; anything else printed (by us or a C library) goes to stderr.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with protocol:
        return worker.run(task, protocol)


if __name__ == "__main__":
    raise SystemExit(main())
