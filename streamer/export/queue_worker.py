"""``streamer worker``: renders the export jobs of the Redis queue (arq), one process of many (I/O).

A worker is given the frame store the server would open (local folder or S3; the CLI builds a
:class:`~streamer.server.framesource.FrameSource`), takes jobs from arq's queue, renders each with
:func:`~streamer.export.render.render` on a thread (the atomic temp-file write is the renderer's)
into the shared exports folder, and keeps the job's hash in Redis up to date: progress every
``TICK_S``, and the final status, error and file size.

Dead workers: arq marks a started job with an "in progress" key that expires, and only then may
another worker take the job again. arq sets it for the job's whole timeout; the running job
shortens it to ``STREAMER_EXPORT_LEASE_S`` and renews it while alive, so a killed worker's job
is taken over about a lease later. A job gets :data:`MAX_ATTEMPTS` tries; the worker that picks
it up for one more marks it failed with the reason. A retry first removes the temp file the dead
attempt left; a starting worker sweeps temp files of jobs that are not running and files of jobs
Redis no longer knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from redis.exceptions import RedisError

from streamer.core.errors import StreamerError
from streamer.export.decode import fetch_frames
from streamer.export.errors import Cancelled
from streamer.export.formats import FORMATS
from streamer.export.jobs import ACTIVE, notify_webhook
from streamer.export.options import ExportOptions
from streamer.export.queue import (
    ACTIVE_KEY,
    JOB_KEY,
    WORKER_KEY,
    decode_hash,
    job_from_hash,
    unpack_keys,
)
from streamer.export.render import TEMP_SUFFIX, AudioSource, RenderResult, render_frames, temp_glob
from streamer.frames import FrameStore
from streamer.rigset import pick
from streamer.settings import Settings

if TYPE_CHECKING:
    from streamer.export.files import S3ExportFiles
    from streamer.storage import AudioStore

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a job whose worker dies is retried once
TICK_S = 0.25  # progress written, cancel checked, lease renewed
SWEEP_EVERY_S = 60.0
# arq tries once more than we allow, so that the extra try can fail the job with its reason.
ARQ_MAX_TRIES = MAX_ATTEMPTS + 1

# Take a job unless it is finished or cancelled.
_START = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if redis.call('HGET', KEYS[1], 'cancel') == '1' or (status ~= 'queued' and status ~= 'running') then
  return status
end
redis.call('HSET', KEYS[1], 'status', 'running', 'stage', 'starting', 'done', '0', 'started', ARGV[1],
  'attempt', ARGV[2], 'worker', ARGV[3])
redis.call('HDEL', KEYS[1], 'encode_started')
return 'running'
"""


class RigFrames(Protocol):
    """Where a worker reads frames: each rig by id, and the (cached) store holding them all."""

    @property
    def rigs(self) -> Mapping[str, Any]: ...  # rig id -> ServedRig

    @property
    def cache(self) -> FrameStore: ...


class _Progress:
    """The render's progress sink (called on the render thread), read by the ticker."""

    def __init__(self) -> None:
        self.done, self.total, self.stage = 0, 0, "starting"
        self.encode_started: float | None = None
        self.timed_out = False

    def __call__(self, done: int, total: int, stage: str) -> None:
        if stage == "encoding" and self.encode_started is None:
            self.encode_started = time.time()
        self.done, self.total, self.stage = done, total, stage


class ExportWorker:
    """One worker process's state: settings, the frame source, Redis, and the jobs it renders."""

    def __init__(
        self,
        settings: Settings,
        redis: ArqRedis,
        frames: RigFrames,
        audio: AudioStore | None = None,
        files: S3ExportFiles | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.frames = frames
        self.audio = audio  # with STREAMER_DATA_URL: where the jobs' audio is fetched from
        self.files = files  # with STREAMER_DATA_URL: where finished files go
        self.root = settings.data_dir / "exports"
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        await self.beat()
        await self.sweep()
        self._tasks = [
            asyncio.create_task(self._every(self.lease_s / 3, self.beat), name="export-worker-heartbeat"),
            asyncio.create_task(self._every(SWEEP_EVERY_S, self.sweep), name="export-worker-sweep"),
        ]
        log.info("export worker %s: rendering into %s", self.id, self.root)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):  # best effort: the key expires anyway
            await self.redis.delete(WORKER_KEY + self.id)

    @property
    def lease_s(self) -> float:
        return float(self.settings.export_lease_s)

    async def _every(self, interval_s: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await action()
            except Exception:  # Redis away for a moment: try again next time
                log.warning("export worker %s: %s failed", self.id, action.__name__, exc_info=True)

    async def beat(self) -> None:
        """Say this worker is alive (``GET /health`` counts these keys)."""
        doc = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "at": time.time()})
        await self.redis.set(WORKER_KEY + self.id, doc, px=int(self.lease_s * 1000))

    async def sweep(self) -> None:
        """Remove temp files of jobs not running, and files (local or on S3) of jobs Redis no longer knows."""
        for path in await asyncio.to_thread(lambda: list(self.root.iterdir())):
            job_id = _job_id_of(path.name)
            if job_id is None:
                continue
            status = await self.redis.hget(JOB_KEY + job_id, "status")
            keep = status == b"running" if path.name.endswith(TEMP_SUFFIX) else status is not None
            if not keep:
                log.info("export worker %s: removing leftover %s", self.id, path.name)
                with contextlib.suppress(FileNotFoundError):
                    await asyncio.to_thread(path.unlink)
        if self.files is not None:  # finished files on S3 of jobs Redis has forgotten (expired, deleted)
            for name in await asyncio.to_thread(self.files.names):
                job_id = _job_id_of(name)
                if job_id is not None and not await self.redis.exists(JOB_KEY + job_id):
                    log.info("export worker %s: removing expired %s from S3", self.id, name)
                    await asyncio.to_thread(self.files.remove_name, name)

    # -- one job ---------------------------------------------------------------------------

    async def run(self, job_id: str, attempt: int) -> None:
        """Render job ``job_id`` (try number ``attempt``), keeping its hash up to date."""
        key = JOB_KEY + job_id
        doc = decode_hash(await self.redis.hgetall(key))
        if not doc:
            log.info("export %s: gone before it started", job_id)
            return
        job = job_from_hash(doc, self.root)
        if job.status not in ACTIVE:
            return
        await asyncio.to_thread(_remove_temps, job.path)  # what a dead attempt left
        if attempt > MAX_ATTEMPTS:
            last = doc.get("worker", "?")
            reason = f"the worker rendering it stopped before the end, {MAX_ATTEMPTS} times (last: {last})"
            await self.finish(job_id, "failed", f"export failed: {reason}")
            return
        taken = await self.redis.eval(_START, 1, key, repr(time.time()), str(attempt), self.id)
        if taken != b"running":
            if taken in (b"queued", b"running"):  # cancelled before it started
                await self.finish(job_id, "cancelled", None)
            return
        log.info("export %s: rendering (attempt %d of %d) on %s", job_id, attempt, MAX_ATTEMPTS, self.id)
        cancel = threading.Event()
        progress = _Progress()
        ticker = asyncio.create_task(self._tick(job_id, cancel, progress), name=f"export {job_id} ticker")
        status, error, size = "failed", None, None
        try:
            result = await self._render(job.path, json.loads(doc["spec"]), job.options, progress, cancel)
            size = (await asyncio.to_thread(os.stat, result.path)).st_size
            if self.files is not None:
                await asyncio.to_thread(self.files.publish, job)
            status = "done"
        except Cancelled:
            status = "failed" if progress.timed_out else "cancelled"
            if progress.timed_out:
                error = f"export failed: still rendering after {self.settings.export_timeout_s} s"
        except StreamerError as exc:
            error = str(exc)
            log.warning("export %s failed: %s", job_id, exc)
        except asyncio.CancelledError:  # the worker is shutting down: arq queues the job again
            cancel.set()
            await self.redis.hset(key, mapping={"status": "queued", "stage": "queued", "done": "0"})
            raise
        except Exception as exc:
            error = f"internal error: {type(exc).__name__}"
            log.exception("export %s crashed", job_id)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await self.finish(job_id, status, error, size, progress)

    async def _render(
        self, output: Path, spec: dict[str, Any], options: ExportOptions, progress: _Progress, cancel: threading.Event
    ) -> RenderResult:
        served = pick(self.frames.rigs, spec["rig"])
        keys, store = unpack_keys(spec["keys"]), served.frames(self.frames.cache)
        loop = asyncio.get_running_loop()

        def run() -> RenderResult:
            progress(0, len(keys), "fetching")
            audio = self._audio(spec.get("audio"))
            pngs = fetch_frames(store, keys, loop, cancel)
            return render_frames(keys, pngs, audio, options, progress, cancel, output=output)

        return await asyncio.to_thread(run)

    def _audio(self, spec: dict[str, Any] | None) -> AudioSource | None:
        """The job's audio: from the data folder, or fetched from S3 into this machine's cache (blocking)."""
        if not spec:
            return None
        path = Path(spec["path"])
        if self.audio is not None:  # "audio/{id}" in the data folder's layout
            return AudioSource(self.audio.path(path.name), spec["offset_ms"])
        return AudioSource(path if path.is_absolute() else self.settings.data_dir / path, spec["offset_ms"])

    async def _tick(self, job_id: str, cancel: threading.Event, progress: _Progress) -> None:
        """Write progress, renew the in-progress lease, and pass on a cancel, until the render ends."""
        key = JOB_KEY + job_id
        deadline = time.monotonic() + self.settings.export_timeout_s
        while True:
            fields: dict[Any, str] = {"done": str(progress.done), "stage": progress.stage}
            if progress.total:
                fields["total"] = str(progress.total)
            if progress.encode_started is not None:
                fields["encode_started"] = repr(progress.encode_started)
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.hset(key, mapping=fields)
                    pipe.pexpire(in_progress_key_prefix + job_id, int(self.lease_s * 1000))
                    pipe.hget(key, "cancel")
                    *_, flag = await pipe.execute()
            except (RedisError, OSError) as exc:  # keep rendering; the lease is renewed when Redis answers
                log.warning("export %s: cannot reach Redis: %s", job_id, exc)
                flag = None
            if flag == b"1":
                cancel.set()
            if time.monotonic() > deadline:
                progress.timed_out = True
                cancel.set()
            await asyncio.sleep(TICK_S)

    async def finish(
        self, job_id: str, status: str, error: str | None, size: int | None = None, progress: _Progress | None = None
    ) -> None:
        """Record the job's end (kept ``STREAMER_EXPORT_TTL_S``), then call its webhook."""
        key, now = JOB_KEY + job_id, time.time()
        fields: dict[Any, str] = {"status": status, "stage": status, "finished": repr(now), "error": error or ""}
        if progress is not None:
            fields["done"] = str(progress.done)
        if status == "done":
            fields["expires"] = repr(now + self.settings.export_ttl_s)
            fields["size_bytes"] = str(size)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self.settings.export_ttl_s)
            pipe.zrem(ACTIVE_KEY, job_id)
            await pipe.execute()
        log.info("export %s %s%s", job_id, status, f": {error}" if error else "")
        doc = decode_hash(await self.redis.hgetall(key))
        if doc and doc.get("webhook_url"):
            await asyncio.to_thread(notify_webhook, job_from_hash(doc, self.root))


def _job_id_of(name: str) -> str | None:
    """The job id in an exports folder file name (``ID.EXT`` or a render temp of it), if it is one."""
    stem = name.removeprefix(".").split(".")
    if len(stem) >= 2 and stem[1] in FORMATS and len(stem[0]) == 16:
        return stem[0]
    return None


def _remove_temps(output: Path) -> None:
    for path in output.parent.glob(temp_glob(output)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def render_export(ctx: dict[str, Any], job_id: str) -> None:
    """The arq job: render export ``job_id``."""
    worker: ExportWorker = ctx["exports"]
    await worker.run(job_id, ctx["job_try"])
