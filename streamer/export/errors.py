"""The export layer's exceptions, all :class:`ExportError` (pure, no I/O).

They are drawn with every other layer's, and the HTTP status each answers, in
``docs/architecture.md`` ("Errors").
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
