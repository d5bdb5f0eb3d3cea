"""Export jobs: a bounded queue of renders on a dedicated thread pool, with progress, cancel and retention (I/O).

The manager lives in the app lifespan. Each job is supervised by a thread of its own
:class:`ThreadPoolExecutor` (never the event loop, never Starlette's shared pool that serves
``to_thread`` calls): the thread fetches the frames by awaiting the app's frame store on the
loop, then hands them to a worker process (:mod:`streamer.export.worker`, niced) that decodes
and encodes, so an export never holds the server's GIL. Cancel kills the worker; the
supervisor then removes the temp file it left. Outputs go to
``root/{job id}.{ext}``, written atomically by :func:`render`; finished outputs are deleted
``ttl_s`` after they complete. Job state is in memory, so at start-up the folder is emptied of
temp files and of outputs no job knows any more.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import pickle
import secrets
import selectors
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamer.core.errors import NotFound, StreamerError
from streamer.export.errors import Cancelled, DiskFull, ExportBusy, ExportError, ExportNotReady
from streamer.export.formats import FORMATS
from streamer.export.options import ExportOptions
from streamer.export.render import (
    AudioSource,
    RenderResult,
    fetch_frames,
    render_frames,
    sweep_temp,
    temp_glob,
)
from streamer.export.worker import WorkerTask, error_from_json, result_from_json
from streamer.frames import FrameStore

if TYPE_CHECKING:
    from streamer.export.files import S3ExportFiles

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
STATES = (*ACTIVE, "done", "failed", "cancelled")  # every status a job can have
WEBHOOK_TIMEOUT_S = 5.0
# Refuse new jobs (507) when the exports folder's disk has less than this free.
MIN_FREE_BYTES = 64 * 1024 * 1024
# Export threads run at a lower CPU priority than the live server (Linux: nice is per thread,
# and the encoder's and converter's threads inherit it from the worker that starts them).
EXPORT_NICE = 10
CANCEL_POLL_S = 0.1
# So that ``python -m streamer.export.worker`` imports this same package.
_IMPORT_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class ExportJob:
    """One export and its progress; mutated by its worker thread, read by request handlers."""

    id: str
    name: str
    options: ExportOptions
    total: int
    path: Path
    webhook_url: str | None = None
    status: str = "queued"
    stage: str = "queued"
    done: int = 0
    error: str | None = None
    created: float = field(default_factory=time.time)
    started_mono: float | None = None
    encode_started_mono: float | None = None
    finished: float | None = None
    expires: float | None = None
    size_bytes: int | None = None
    result: RenderResult | None = None
    worker_pid: int | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    finished_event: threading.Event = field(default_factory=threading.Event)

    @property
    def filename(self) -> str:
        return f"{self.name}.{self.options.extension}"

    def update(self, done: int, total: int, stage: str) -> None:
        """The render's progress sink."""
        if stage == "encoding" and self.encode_started_mono is None:
            self.encode_started_mono = time.monotonic()
        self.done, self.total, self.stage = done, total, stage

    def eta_s(self) -> float | None:
        if self.status != "running" or self.encode_started_mono is None or self.done <= 0:
            return None
        elapsed = time.monotonic() - self.encode_started_mono
        return round(elapsed / self.done * (self.total - self.done), 1)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "name": self.name,
            "options": self.options.to_json(),
            "progress": {
                "frames": self.done,
                "total": self.total,
                "stage": self.stage,
                "percent": round(100 * self.done / self.total, 1) if self.total else 0.0,
                "eta_s": self.eta_s(),
            },
            "error": self.error,
            "created": self.created,
            "finished": self.finished,
        }
        if self.status == "done":
            doc["file"] = f"/exports/{self.id}/file"
            doc["filename"] = self.filename
            doc["size_bytes"] = self.size_bytes
            doc["expires"] = self.expires
        return doc


def check_webhook(url: object, allowed_hosts: Iterable[str]) -> str:
    """``url`` if it is http(s) to one of ``allowed_hosts``; raises :class:`ExportError` otherwise."""
    allowed = {h.lower() for h in allowed_hosts}
    if not isinstance(url, str):
        raise ExportError(f"webhook_url: must be a string, got {type(url).__name__}")
    if not allowed:
        raise ExportError("webhook_url: webhooks are disabled (set STREAMER_EXPORT_WEBHOOK_HOSTS to allow hosts)")
    parsed = urllib.parse.urlsplit(url)
    host = (parsed.hostname or "").lower()
    if parsed.scheme not in ("http", "https") or not host:
        raise ExportError(f"webhook_url: must be an http(s) URL, got {url[:100]!r}")
    if host not in allowed:
        raise ExportError(f"webhook_url: host {host!r} is not allowed; allowed: {', '.join(sorted(allowed))}")
    return url


def notify_webhook(job: ExportJob) -> None:
    """POST ``{"event": "export.STATUS", "export": job}`` to the job's webhook (blocking; failures are logged)."""
    assert job.webhook_url is not None
    body = json.dumps({"event": f"export.{job.status}", "export": job.to_json()}).encode()
    headers = {"Content-Type": "application/json"}
    req = urllib.request.Request(job.webhook_url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT_S) as res:  # noqa: S310 (host checked)
            res.read(1024)
    except (OSError, ValueError) as exc:
        log.warning("export %s: webhook to %s failed: %s", job.id, urllib.parse.urlsplit(job.webhook_url)[1], exc)


def _lower_priority() -> None:
    """Nice this worker thread so that live viewers win the CPU over an export (best effort)."""
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < EXPORT_NICE:
            os.setpriority(os.PRIO_PROCESS, tid, EXPORT_NICE)
    except (AttributeError, OSError):  # not Linux, or not allowed: run at normal priority
        pass


class ExportJobs:
    """Runs export jobs: at most ``workers`` at once and ``max_queued`` waiting; more is :class:`ExportBusy`."""

    def __init__(
        self,
        root: Path | str,
        *,
        workers: int = 1,
        max_queued: int = 4,
        ttl_s: int = 3600,
        max_duration_ms: int = 600_000,
        webhook_hosts: Iterable[str] = (),
        use_processes: bool = True,
        render_kwargs: dict[str, Any] | None = None,
        files: S3ExportFiles | None = None,
    ) -> None:
        self.root = Path(root)
        self.files = files  # finished files on S3 (STREAMER_DATA_URL), else in ``root``
        self.workers = workers
        self.max_queued = max_queued
        self.ttl_s = ttl_s
        self.max_duration_ms = max_duration_ms
        self.webhook_hosts = tuple(webhook_hosts)
        self.use_processes = use_processes
        self.render_kwargs = dict(render_kwargs or {})
        self.jobs: dict[str, ExportJob] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._futures: set[concurrent.futures.Future[None]] = set()
        self._reaper: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"ExportJobs({str(self.root)!r}, workers={self.workers}, max_queued={self.max_queued})"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Prepare the folder (sweeping what a previous run left) and start the pool and the reaper."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._prepare_folder)
        self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="export")
        self._reaper = asyncio.create_task(self._reap_forever(), name="export-reaper")

    def _prepare_folder(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        sweep_temp(self.root)
        for ext in {spec.extension for spec in FORMATS.values()}:
            for path in self.root.glob(f"*.{ext}"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    async def close(self) -> None:
        """Cancel every job and wait (briefly) for the workers to stop and clean up."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for job in list(self.jobs.values()):
            job.cancel_event.set()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pending = [asyncio.wrap_future(f) for f in self._futures]
            if pending:
                await asyncio.wait(pending, timeout=10)
            pool.shutdown(wait=False, cancel_futures=True)

    # -- jobs ------------------------------------------------------------------------------

    def submit(
        self,
        keys: list[str],
        store: FrameStore,
        audio: AudioSource | None,
        options: ExportOptions,
        *,
        name: str = "export",
        webhook_url: str | None = None,
    ) -> ExportJob:
        """Queue an export of the output frames ``keys`` (from :func:`plan_keys`, which applies
        the length cap); raises :class:`ExportBusy`, :class:`DiskFull` or :class:`ExportError` at once."""
        if self._pool is None or self._loop is None:
            raise ExportError("the export service is not running")
        if webhook_url is not None:
            check_webhook(webhook_url, self.webhook_hosts)
        total = len(keys)
        free = shutil.disk_usage(self.root).free
        if free < MIN_FREE_BYTES:
            raise DiskFull(f"only {free // (1024 * 1024)} MB free for exports; free some space and try again")
        with self._lock:
            active = sum(1 for j in self.jobs.values() if j.status in ACTIVE)
            if active >= self.workers + self.max_queued:
                raise ExportBusy(
                    f"too many exports: {active} running or queued (limit {self.workers + self.max_queued}); "
                    "try again when one finishes"
                )
            job_id = secrets.token_hex(8)
            job = ExportJob(
                id=job_id,
                name=name,
                options=options,
                total=total,
                path=self.root / f"{job_id}.{options.extension}",
                webhook_url=webhook_url,
            )
            self.jobs[job_id] = job
        future = self._pool.submit(self._run, job, keys, store, audio)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        log.info("export %s queued: %s, %d frames", job_id, options.format, total)
        return job

    def get(self, job_id: str) -> ExportJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no export {job_id[:40]!r}")
        return job

    def cancel(self, job_id: str) -> ExportJob:
        """Ask a queued or running job to stop (a running one stops within a frame)."""
        job = self.get(job_id)
        job.cancel_event.set()
        with self._lock:
            if job.status == "queued":
                self._finish(job, "cancelled", None)
        return job

    def delete(self, job_id: str) -> None:
        """Forget a finished job and remove its file."""
        job = self.get(job_id)
        with self._lock:
            self.jobs.pop(job_id, None)
        self._remove_file(job)

    def _remove_file(self, job: ExportJob) -> None:
        with contextlib.suppress(FileNotFoundError):
            job.path.unlink()
        if self.files is not None:
            self.files.remove(job)

    def has_file(self, job: ExportJob) -> bool:
        """Whether the finished file of ``job`` is stored (blocking with S3)."""
        return self.files.exists(job) if self.files is not None else job.path.is_file()

    def file_of(self, job_id: str) -> ExportJob:
        """The job if its file is ready to download; raises :class:`ExportNotReady` otherwise."""
        job = self.get(job_id)
        if job.status != "done" or not self.has_file(job):
            raise ExportNotReady(f"export {job_id!r} has no file (status {job.status})")
        return job

    # -- worker side -----------------------------------------------------------------------

    def _finish(self, job: ExportJob, status: str, error: str | None) -> None:
        job.status, job.error, job.finished = status, error, time.time()
        job.stage = status
        if status == "done":
            job.expires = job.finished + self.ttl_s
        job.finished_event.set()

    def _run(self, job: ExportJob, keys: list[str], store: FrameStore, audio: AudioSource | None) -> None:
        if not self.use_processes:
            _lower_priority()
        with self._lock:
            if job.status != "queued" or job.cancel_event.is_set():
                if job.status == "queued":
                    self._finish(job, "cancelled", None)
                return
            job.status, job.stage, job.started_mono = "running", "starting", time.monotonic()
        status, error = "failed", None
        try:
            job.update(0, len(keys), "fetching")
            pngs = fetch_frames(store, keys, self._loop, job.cancel_event)
            if self.use_processes:
                result = self._render_in_worker(job, keys, pngs, audio)
            else:
                result = render_frames(
                    keys, pngs, audio, job.options, job.update, job.cancel_event, output=job.path, **self.render_kwargs
                )
            job.result, job.size_bytes = result, job.path.stat().st_size
            if self.files is not None:
                self.files.publish(job)
            status = "done"
        except Cancelled:
            status = "cancelled"
        except StreamerError as exc:
            error = str(exc)
            log.warning("export %s failed: %s", job.id, exc)
        except Exception as exc:  # a bug or an unexpected library error: keep the supervisor alive
            error = f"internal error: {type(exc).__name__}"
            log.exception("export %s crashed", job.id)
        with self._lock:
            self._finish(job, status, error)
        log.info("export %s %s", job.id, status)
        if job.webhook_url:
            self._notify(job)

    def _render_in_worker(
        self, job: ExportJob, keys: list[str], pngs: dict[str, bytes], audio: AudioSource | None
    ) -> RenderResult:
        task = WorkerTask(keys, pngs, audio, job.options, job.path, self.render_kwargs)
        job.update(0, len(keys), "starting")
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamer.export.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(filter(None, [_IMPORT_ROOT, os.environ.get("PYTHONPATH")])),
            },
        )
        job.worker_pid = proc.pid
        try:
            assert proc.stdin is not None and proc.stdout is not None
            with contextlib.suppress(BrokenPipeError):  # a worker that died at once: its status says why
                proc.stdin.write(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            return self._follow(job, proc)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
            for path in job.path.parent.glob(temp_glob(job.path)):  # what a killed worker left
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def _follow(self, job: ExportJob, proc: subprocess.Popen[bytes]) -> RenderResult:
        """Relay the worker's progress until it reports a result or an error; kill it on cancel."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                if job.cancel_event.is_set():
                    proc.kill()
                    raise Cancelled("export cancelled")
                if not selector.select(timeout=CANCEL_POLL_S):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        log.warning("export %s: unexpected worker output %r", job.id, line[:200])
                        continue
                    if msg["type"] == "progress":
                        job.update(msg["done"], msg["total"], msg["stage"])
                    elif msg["type"] == "done":
                        return result_from_json(msg["result"])
                    elif msg["type"] == "error":
                        raise error_from_json(msg)
        code = proc.wait()
        raise ExportError(f"the export worker died (exit status {code})")

    def _notify(self, job: ExportJob) -> None:
        notify_webhook(job)

    # -- retention -------------------------------------------------------------------------

    def reap(self, now: float | None = None) -> int:
        """Forget finished jobs older than the TTL and delete their files; returns how many."""
        now = time.time() if now is None else now
        expired = []
        with self._lock:
            for job in list(self.jobs.values()):
                if job.status not in ACTIVE and job.finished is not None and now >= job.finished + self.ttl_s:
                    expired.append(self.jobs.pop(job.id))
        for job in expired:
            try:
                self._remove_file(job)
            except StreamerError as exc:
                log.warning("export %s: cannot remove its file: %s", job.id, exc)
        return len(expired)

    async def _reap_forever(self) -> None:
        interval = max(1.0, min(60.0, self.ttl_s / 4))
        while True:
            await asyncio.sleep(interval)
            await asyncio.to_thread(self.reap)
