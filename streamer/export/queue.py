"""Export jobs on a Redis queue (arq) for ``streamer worker`` processes: the server's side (I/O).

With ``REDIS_URL`` the app's export service is a :class:`QueueJobs` instead of the in-process
:class:`~streamer.export.jobs.ExportJobs`. A job's state is one Redis hash (``streamer:export:ID``:
status, progress, error, the render spec), so any server process answers for any job, and a
server restart loses nothing. ``submit`` writes the hash and enqueues an arq job that a worker
(:mod:`streamer.export.queue_worker`) picks up; the worker renders to the shared exports folder
(``STREAMER_DATA_DIR/exports``, which every process must see), or uploads the finished file to
S3 with ``STREAMER_DATA_URL`` (:mod:`streamer.export.files`), and writes progress back. Cancel
sets a flag the worker polls. The spec carries the schedule the server resolved and checked, so
the worker renders exactly what the request was validated against.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.exceptions import RedisError

from streamer.core.errors import NotFound, StoreUnavailable
from streamer.export.errors import DiskFull, ExportBusy, ExportError, ExportNotReady
from streamer.export.jobs import ACTIVE, MIN_FREE_BYTES, STATES, ExportJob, check_webhook
from streamer.export.options import ExportOptions
from streamer.export.render import AudioSource
from streamer.frames import FrameStore
from streamer.settings import Settings

if TYPE_CHECKING:
    from streamer.export.files import S3ExportFiles

log = logging.getLogger(__name__)

QUEUE = "streamer:exports:queue"  # the arq queue
JOB_KEY = "streamer:export:"  # + job id: the job's hash
ACTIVE_KEY = "streamer:exports:active"  # sorted set of queued and running job ids, by creation time
WORKER_KEY = "streamer:export-worker:"  # + worker id: a worker's heartbeat (expires when it stops)
RENDER_FUNCTION = "render_export"
POLL_S = 0.05

# A queued job is cancelled at once; a running one gets the flag its worker polls.
_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'stage', 'cancelled', 'finished', ARGV[1], 'cancel', '1')
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[3])
  return 'cancelled'
end
if status == 'running' then redis.call('HSET', KEYS[1], 'cancel', '1') end
return status
"""


def redis_settings(url: str) -> RedisSettings:
    """arq's connection settings for ``REDIS_URL``."""
    return RedisSettings.from_dsn(url)


async def connect(url: str) -> ArqRedis:
    """A Redis client (a connection pool) that can also enqueue arq jobs."""
    return await create_pool(redis_settings(url), default_queue_name=QUEUE)


def decode_hash(raw: dict[Any, Any]) -> dict[str, str]:
    def text(v: Any) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)

    return {text(k): text(v) for k, v in raw.items()}


def _float(doc: dict[str, str], name: str) -> float | None:
    value = doc.get(name)
    return float(value) if value else None


def job_from_hash(doc: dict[str, str], root: Path) -> ExportJob:
    """The :class:`ExportJob` snapshot a job hash describes (its ``to_json`` is what clients get)."""
    options = ExportOptions.parse(json.loads(doc["options"]))
    job = ExportJob(
        id=doc["id"],
        name=doc["name"],
        options=options,
        total=int(doc.get("total") or 0),
        path=root / f"{doc['id']}.{options.extension}",
        webhook_url=doc.get("webhook_url") or None,
        status=doc["status"],
        stage=doc.get("stage") or doc["status"],
        done=int(doc.get("done") or 0),
        error=doc.get("error") or None,
        created=float(doc["created"]),
        finished=_float(doc, "finished"),
        expires=_float(doc, "expires"),
        size_bytes=int(doc["size_bytes"]) if doc.get("size_bytes") else None,
    )
    encode_started = _float(doc, "encode_started")
    if encode_started is not None:  # wall clock (shared by processes) to this process's monotonic clock
        job.encode_started_mono = time.monotonic() - max(0.0, time.time() - encode_started)
    return job


def pack_keys(keys: list[str]) -> list[list[Any]]:
    """The output frames as ``[key, count]`` runs: a talking character holds most frames."""
    runs: list[list[Any]] = []
    for key in keys:
        if runs and runs[-1][0] == key:
            runs[-1][1] += 1
        else:
            runs.append([key, 1])
    return runs


def unpack_keys(runs: list[list[Any]]) -> list[str]:
    return [key for key, count in runs for _ in range(count)]


def portable_audio(audio: AudioSource | None, data_dir: Path) -> dict[str, Any] | None:
    """``audio`` for another process: a path inside the data folder is kept relative to it."""
    if audio is None:
        return None
    path = Path(audio.path)
    with contextlib.suppress(ValueError):
        path = path.resolve().relative_to(data_dir.resolve())
    return {"path": str(path), "offset_ms": audio.offset_ms}


class QueueJobs:
    """Export jobs kept in Redis and rendered by ``streamer worker`` processes (an ``ExportManager``)."""

    def __init__(self, settings: Settings, files: S3ExportFiles | None = None) -> None:
        assert settings.redis_url is not None
        self.settings = settings
        self.files = files  # finished files on S3 (STREAMER_DATA_URL), else in the shared exports folder
        self.root = settings.data_dir / "exports"
        self.max_active = settings.export_workers + settings.export_max_queued
        self.ttl_s = settings.export_ttl_s
        self._redis: ArqRedis | None = None

    def __repr__(self) -> str:
        return f"QueueJobs({str(self.root)!r})"

    @property
    def redis(self) -> ArqRedis:
        if self._redis is None:
            raise ExportError("the export service is not running")
        return self._redis

    async def start(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        assert self.settings.redis_url is not None
        self._redis = await connect(self.settings.redis_url)

    async def close(self) -> None:
        """Close the connection; jobs go on (they live in Redis and on the workers)."""
        if self._redis is not None:
            redis, self._redis = self._redis, None
            await redis.aclose(close_connection_pool=True)

    # -- jobs ------------------------------------------------------------------------------

    async def submit(
        self,
        keys: list[str],
        store: FrameStore,
        audio: AudioSource | None,
        options: ExportOptions,
        *,
        name: str = "export",
        webhook_url: str | None = None,
        rig: str = "default",
    ) -> ExportJob:
        """Queue an export for the workers; raises :class:`ExportBusy`, :class:`DiskFull` or :class:`ExportError`.

        ``store`` is not sent: a worker reads rig ``rig``'s frames from its own frame store.
        """
        if webhook_url is not None:
            check_webhook(webhook_url, self.settings.export_webhook_hosts)
        total = len(keys)
        free = (await asyncio.to_thread(shutil.disk_usage, self.root)).free
        if free < MIN_FREE_BYTES:
            raise DiskFull(f"only {free // (1024 * 1024)} MB free for exports; free some space and try again")
        active = await self.redis.zcard(ACTIVE_KEY)
        if active >= self.max_active:
            raise ExportBusy(
                f"too many exports: {active} running or queued (limit {self.max_active}); try again when one finishes"
            )
        job_id = secrets.token_hex(8)
        created = time.time()
        spec = {
            "keys": pack_keys(keys),
            "rig": rig,
            "audio": portable_audio(audio, self.settings.data_dir),
        }
        doc: dict[Any, str] = {  # (Any: redis-py's mapping type is invariant in its keys)
            "id": job_id,
            "name": name,
            "options": json.dumps(options.to_json()),
            "total": str(total),
            "status": "queued",
            "stage": "queued",
            "done": "0",
            "created": repr(created),
            "webhook_url": webhook_url or "",
            "spec": json.dumps(spec),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(JOB_KEY + job_id, mapping=doc)
            pipe.zadd(ACTIVE_KEY, {job_id: created})
            await pipe.execute()
        await self.redis.enqueue_job(RENDER_FUNCTION, job_id, _job_id=job_id, _queue_name=QUEUE)
        log.info("export %s queued for the workers: %s, %d frames", job_id, options.format, total)
        return job_from_hash(doc, self.root)

    async def get(self, job_id: str) -> ExportJob:
        doc = decode_hash(await self.redis.hgetall(JOB_KEY + job_id))
        if not doc:
            raise NotFound(f"no export {job_id[:40]!r}")
        return job_from_hash(doc, self.root)

    async def cancel(self, job_id: str, wait_s: float) -> ExportJob:
        """Cancel a queued job at once, or ask the running job's worker to stop (it does within a frame)."""
        status = await self.redis.eval(
            _CANCEL, 2, JOB_KEY + job_id, ACTIVE_KEY, repr(time.time()), str(self.ttl_s), job_id
        )
        if status is None:
            raise NotFound(f"no export {job_id[:40]!r}")
        deadline = time.monotonic() + wait_s
        job = await self.get(job_id)
        while job.status in ACTIVE and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            job = await self.get(job_id)
        return job

    async def delete(self, job_id: str) -> None:
        """Forget a job and remove its file."""
        job = await self.get(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(JOB_KEY + job_id)
            pipe.zrem(ACTIVE_KEY, job_id)
            await pipe.execute()
        await asyncio.to_thread(job.path.unlink, missing_ok=True)
        if self.files is not None:
            await asyncio.to_thread(self.files.remove, job)

    async def file_of(self, job_id: str) -> ExportJob:
        """The job if its file is ready to download; raises :class:`ExportNotReady` otherwise."""
        job = await self.get(job_id)
        stored = self.files.exists if self.files is not None else lambda job: job.path.is_file()
        if job.status != "done" or not await asyncio.to_thread(stored, job):
            raise ExportNotReady(f"export {job_id!r} has no file (status {job.status})")
        return job

    # -- health ----------------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        """Every job Redis keeps (finished ones until they expire) by status, and the workers alive.

        Raises :class:`StoreUnavailable` when Redis does not answer.
        """
        try:
            keys = [key async for key in self.redis.scan_iter(match=JOB_KEY + "*", count=500)]
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hget(key, "status")
                statuses = Counter(s.decode() for s in await pipe.execute() if s is not None)
            workers = [key async for key in self.redis.scan_iter(match=WORKER_KEY + "*", count=100)]
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis unreachable: {exc}"[:200]) from exc
        return {"jobs": {state: statuses[state] for state in STATES}, "workers": len(workers)}

    async def health(self) -> dict[str, Any]:
        """The queue as ``GET /health`` shows it: queued and running jobs, and the workers alive."""
        try:
            ids = cast(list[bytes], await self.redis.zrange(ACTIVE_KEY, 0, -1))
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hget(JOB_KEY + job_id.decode(), "status")
                statuses = [s.decode() for s in await pipe.execute() if s is not None]
            workers = [key async for key in self.redis.scan_iter(match=WORKER_KEY + "*", count=100)]
        except (RedisError, OSError) as exc:
            return {"error": f"redis unreachable: {exc}"[:200]}
        return {
            "queued": statuses.count("queued"),
            "running": statuses.count("running"),
            "workers": len(workers),
        }
