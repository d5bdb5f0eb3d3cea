"""The export layer's exceptions (pure, no I/O).

::

    ExportError (StreamerError, ValueError)   bad options, a missing frame or audio, an encoder failure
    ├── ExportTooLong                         over the export length cap
    ├── ExportBusy                            the job queue is full
    ├── ExportNotReady                        the job's file is not there (yet, or any more)
    ├── DiskFull                              no space left for the output
    └── Cancelled                             the job was cancelled

Their HTTP statuses are in :mod:`streamer.server.errors`.
"""

from __future__ import annotations

from streamer.core.errors import StreamerError


class ExportError(StreamerError, ValueError):
    """An export cannot be made as asked (bad option, missing frame or audio, encoder failure)."""


class ExportTooLong(ExportError):
    """The export is over the length cap."""


class ExportBusy(ExportError):
    """Too many export jobs are running or queued."""


class ExportNotReady(ExportError):
    """The job's file is not there (yet, or any more)."""


class DiskFull(ExportError):
    """No space left on the device for the output."""


class Cancelled(ExportError):
    """The export was cancelled."""
