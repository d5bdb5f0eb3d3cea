"""Bounds on heavy public work: a few requests at a time, the rest 429, the CPU work in processes.

Validating a 5 MB timeline or building a 60 fps schedule costs hundreds of milliseconds of CPU
and tens of megabytes. These routes need no token, so without a bound a stranger could stack
them until memory runs out. A thread is not enough to keep live frames on time: ``json.loads``
of a big body is one C call that holds the GIL for ~100 ms, so the event loop would wait for
it. The work runs in a small process pool instead (spawned, holding its own copy of the rigs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from typing import Any, TypeVar

from streamer.core.layers import blink_times
from streamer.core.resolve import resolve
from streamer.core.rig import Rig
from streamer.core.timeline import check_against_rig, loads, parse_timeline
from streamer.server.errors import Busy

T = TypeVar("T")

# Items per json.dumps call when encoding a big list: each call holds the GIL for about a
# millisecond, so the event loop's thread gets it back between calls.
ENCODE_CHUNK_ITEMS = 2000


class HeavyWork:
    """At most ``slots`` heavy requests at once (one more is refused, not queued), run in processes."""

    def __init__(self, slots: int, rigs: Mapping[str, Rig]) -> None:
        self.slots = self.free = slots
        self.rigs = dict(rigs)  # by id, the default rig first
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker process (started on first use), which has the rigs by id as ``_rigs``."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.slots,
                mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded server
                initializer=_init_worker,
                initargs=(self.rigs,),
            )
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    @contextlib.asynccontextmanager
    async def slot(self, what: str) -> AsyncIterator[None]:
        """Hold a slot for the body of the ``async with``; raises :class:`Busy` when none is free."""
        if self.free <= 0:
            raise Busy(f"too many {what} requests at once (at most {self.slots}); retry in {Busy.retry_after_s} s")
        self.free -= 1
        try:
            yield
        finally:
            self.free += 1


def _pieces(value: Any) -> Iterator[str]:
    if isinstance(value, list) and len(value) > ENCODE_CHUNK_ITEMS:
        yield "["
        for i in range(0, len(value), ENCODE_CHUNK_ITEMS):
            yield ("," if i else "") + json.dumps(value[i : i + ENCODE_CHUNK_ITEMS], separators=(",", ":"))[1:-1]
        yield "]"
    elif isinstance(value, dict):
        yield "{"
        for n, (key, item) in enumerate(value.items()):
            yield ("," if n else "") + json.dumps(str(key)) + ":"
            yield from _pieces(item)
        yield "}"
    else:
        yield json.dumps(value, separators=(",", ":"))


def encode_json(value: Any) -> bytes:
    """``value`` as compact JSON bytes, encoded in small steps (run it in a thread)."""
    return "".join(_pieces(value)).encode("utf-8")


# -- in the worker processes ----------------------------------------------------------------

_rigs: dict[str, Rig] = {}
PARENT_CHECK_S = 0.5


def _init_worker(rigs: Mapping[str, Rig]) -> None:
    global _rigs
    _rigs = dict(rigs)
    # Below the server in the CPU scheduler: on a small machine the live loop must win the cores.
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
    threading.Thread(target=_exit_with, args=(os.getppid(),), name="exit-with-server", daemon=True).start()


def _exit_with(server_pid: int) -> None:
    """End this worker once the server that started it is gone.

    A server killed outright (SIGKILL, the OOM killer) never tells its pool to stop, and the
    pool's workers would wait for work forever, each holding its copy of the rigs.
    """
    while os.getppid() == server_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _worker_rig(rig_id: str | None = None) -> Rig:
    """The rig ``rig_id`` (checked by the caller), or the default rig."""
    assert _rigs, "HeavyWork worker without a rig"
    return _rigs[rig_id] if rig_id is not None else next(iter(_rigs.values()))


def validate_timeline_bytes(raw: bytes) -> tuple[str, int, str | None]:
    """Parse and check a timeline body against the rig: (source, duration_ms, audio id or None)."""
    timeline = parse_timeline(loads(raw))
    check_against_rig(timeline, _worker_rig())
    return timeline.source, timeline.duration_ms, None if timeline.audio is None else timeline.audio.id


def schedule_bytes(raw: bytes, fps: int | Fraction | None, timeline_id: str, rig_id: str | None = None) -> bytes:
    """A stored timeline's schedule (sampled at ``fps`` when given, for rig ``rig_id`` or the default) as JSON."""
    doc = resolve(parse_timeline(loads(raw)), _worker_rig(rig_id)).to_json(fps)
    return encode_json({"id": timeline_id, **doc})


def document_schedule_bytes(raw: bytes, fps: int | Fraction | None, rig_id: str | None = None) -> bytes:
    """A posted timeline's schedule, with its blinks (explicit and idle), as the JSON body of its route.

    The editor shows what a draft resolves to before it is saved: the same :func:`resolve` as a
    stored timeline's schedule.
    """
    timeline = parse_timeline(loads(raw))
    rig = _worker_rig(rig_id)
    doc = resolve(timeline, rig).to_json(fps)
    doc["blinks"] = [list(b) for b in blink_times(timeline, rig)]
    return encode_json({"timeline_duration_ms": timeline.duration_ms, **doc})
