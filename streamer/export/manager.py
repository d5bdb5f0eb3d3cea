"""What the export routes need from an export service, and its in-process implementation's async face (I/O).

Two services implement :class:`ExportManager`: :class:`LocalExports` wraps the in-process
:class:`~streamer.export.jobs.ExportJobs` (one server, renders on its own threads), and
:class:`~streamer.export.queue.QueueJobs` keeps jobs in Redis for ``streamer worker`` processes
(``REDIS_URL``). Both hand out :class:`~streamer.export.jobs.ExportJob` objects; a queued one is a
snapshot, so callers that follow a job ask for it again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, Protocol

from streamer.export.jobs import STATES, ExportJob, ExportJobs
from streamer.export.options import ExportOptions
from streamer.export.render import AudioSource
from streamer.frames import FrameStore


class ExportManager(Protocol):
    """Export jobs as the HTTP routes and the live socket use them (built once, in the app's lifespan)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def health(self) -> dict[str, Any] | None:
        """What ``GET /health`` reports of the export service (None: nothing beyond the server's own)."""
        ...

    async def stats(self) -> dict[str, Any]:
        """For ``GET /metrics``: ``{"jobs": {status: count, every status}, "workers": live workers or None}``."""
        ...

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
        """Queue an export of the output frames ``keys`` (from ``plan_keys``, length cap applied)."""
        ...

    async def get(self, job_id: str) -> ExportJob: ...

    async def cancel(self, job_id: str, wait_s: float) -> ExportJob:
        """Ask the job to stop; return it once it has, or after ``wait_s``."""
        ...

    async def delete(self, job_id: str) -> None: ...

    async def file_of(self, job_id: str) -> ExportJob: ...


class LocalExports:
    """:class:`ExportJobs` behind the :class:`ExportManager` interface."""

    def __init__(self, jobs: ExportJobs) -> None:
        self.jobs = jobs

    async def start(self) -> None:
        await self.jobs.start()

    async def close(self) -> None:
        await self.jobs.close()

    async def health(self) -> None:
        return None

    async def stats(self) -> dict[str, Any]:
        statuses = Counter(job.status for job in list(self.jobs.jobs.values()))
        return {"jobs": {state: statuses[state] for state in STATES}, "workers": None}  # renders on its own threads

    async def submit(self, *args: Any, rig: str = "default", **kwargs: Any) -> ExportJob:
        return self.jobs.submit(*args, **kwargs)  # ``store`` is already the rig's

    async def get(self, job_id: str) -> ExportJob:
        return self.jobs.get(job_id)

    async def cancel(self, job_id: str, wait_s: float) -> ExportJob:
        job = self.jobs.cancel(job_id)
        await asyncio.to_thread(job.finished_event.wait, wait_s)
        return job

    async def delete(self, job_id: str) -> None:
        await asyncio.to_thread(self.jobs.delete, job_id)

    async def file_of(self, job_id: str) -> ExportJob:
        return await asyncio.to_thread(self.jobs.file_of, job_id)
