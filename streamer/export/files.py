"""Finished export files on S3 (``STREAMER_DATA_URL``): upload, presigned download URL, removal (I/O, blocking).

A render writes its file in the local exports folder (atomically, as without S3); the job is
``done`` only once the whole file is one object at ``prefix/exports/{id}.{ext}``, and the local
copy is then removed. S3 shows an object only when its PUT completed, so a failed or cancelled
job leaves none. Downloads are presigned GET URLs, valid ``STREAMER_PRESIGN_EXPIRES_S``.
"""

from __future__ import annotations

import contextlib
import logging

from streamer.export.jobs import ExportJob
from streamer.storage.s3data import S3Data

log = logging.getLogger(__name__)

EXPORTS = "exports/"


class S3ExportFiles:
    """Where finished export files go when the data lives on S3."""

    def __init__(self, data: S3Data, expires_s: int) -> None:
        self.data = data
        self.expires_s = expires_s

    def __repr__(self) -> str:
        return f"S3ExportFiles({self.data.url + EXPORTS!r})"

    @staticmethod
    def key(job: ExportJob) -> str:
        return EXPORTS + job.path.name

    def publish(self, job: ExportJob) -> None:
        """Upload the job's rendered local file as one object, then remove the local copy."""
        try:
            self.data.put_file(self.key(job), job.path, job.options.media_type)
        finally:
            with contextlib.suppress(FileNotFoundError):
                job.path.unlink()
        log.info("export %s stored at %s%s", job.id, self.data.url, self.key(job))

    def exists(self, job: ExportJob) -> bool:
        return self.data.head(self.key(job)) is not None

    def remove(self, job: ExportJob) -> None:
        self.data.delete(self.key(job))

    def names(self) -> list[str]:
        """The file names (``{id}.{ext}``) stored below ``prefix/exports/``."""
        return [obj.key[len(EXPORTS) :] for obj in self.data.list(EXPORTS)]

    def remove_name(self, name: str) -> None:
        self.data.delete(EXPORTS + name)

    def url(self, job: ExportJob, disposition: str = "attachment") -> str:
        """A presigned download URL of the job's file (named after the job), valid ``expires_s``."""
        return self.data.presign(self.key(job), self.expires_s, f'{disposition}; filename="{job.filename}"')
