"""Video export: render a schedule to MP4, WebM with alpha or ProRes MOV with PyAV, as jobs or from the CLI.

::

    ExportError (StreamerError, ValueError)   bad options, a missing frame or audio, an encoder failure
    ├── ExportTooLong                         over the export length cap
    ├── ExportBusy                            the job queue is full (HTTP 429)
    ├── DiskFull                              no space left for the output (HTTP 507)
    └── Cancelled                             the job was cancelled
"""

from __future__ import annotations

from streamer.export.options import (
    FORMATS,
    Cancelled,
    DiskFull,
    ExportBusy,
    ExportError,
    ExportOptions,
    ExportTooLong,
)
from streamer.export.render import AudioSource, RenderResult, render

__all__ = [
    "FORMATS",
    "AudioSource",
    "Cancelled",
    "DiskFull",
    "ExportBusy",
    "ExportError",
    "ExportOptions",
    "ExportTooLong",
    "RenderResult",
    "render",
]
