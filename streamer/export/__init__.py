"""Video export: render a schedule to the formats of :mod:`streamer.export.formats` with PyAV, as jobs or from the CLI.

The exceptions are drawn in :mod:`streamer.export.errors`. The renderer is
:mod:`streamer.export.render` (not imported here, so that the CLI reads the format table
without loading PyAV).
"""

from __future__ import annotations

from streamer.export.errors import Cancelled, DiskFull, ExportBusy, ExportError, ExportTooLong
from streamer.export.formats import FORMATS
from streamer.export.options import ExportOptions

__all__ = ["FORMATS", "Cancelled", "DiskFull", "ExportBusy", "ExportError", "ExportOptions", "ExportTooLong"]
