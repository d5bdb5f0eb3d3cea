"""The storage layer's exceptions (no I/O); their HTTP statuses are in :mod:`streamer.server.errors`."""

from __future__ import annotations

from streamer.core.errors import StreamerError


class AudioError(StreamerError, ValueError):
    """An upload is not audio we can use (not audio, unsupported format, too long)."""


class PayloadTooLarge(StreamerError, ValueError):
    """A request body or upload is over its size limit."""


class StaleWrite(StreamerError):
    """A conditional write (``If-Match``) named a version that is no longer the stored one (HTTP 412)."""


class AlreadyExists(StreamerError, ValueError):
    """Something is already stored under the requested id."""
