"""Frame stores: where frame bytes come from, by key (I/O).

:class:`FrameStore` is the role; :class:`LocalFrameStore` reads a rig folder. S3 and a cache
in front of any store come later behind the same protocol. Frames are immutable per key, so
the ETag is a hash of the bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from streamer.core.errors import NotFound
from streamer.core.keys import validate_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameData:
    """A frame's bytes and its strong ETag (quoted, ready for the header)."""

    data: bytes
    etag: str


def etag_of(data: bytes) -> str:
    """A strong ETag for ``data``: a quoted 128-bit BLAKE2b digest."""
    return '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'


# Frames never change under one key (a new drawing is a new rig or file name): cache them for a year.
FRAME_CACHE_CONTROL = "public, max-age=31536000, immutable"


class FrameStore(Protocol):
    """Frame bytes by key."""

    async def get(self, key: str) -> FrameData:
        """The frame stored under ``key``.

        Raises :class:`InvalidKey` for an unsafe key and :class:`NotFound` for a missing frame.
        """
        ...


class LocalFrameStore:
    """Frames read from a folder; keys are paths below ``root`` and never leave it."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._real_root = self.root.resolve()

    def __repr__(self) -> str:
        return f"LocalFrameStore({str(self.root)!r})"

    def path_of(self, key: str) -> Path:
        """The real file for ``key``, checked to lie inside the root (symlinks resolved).

        Raises :class:`InvalidKey` or :class:`NotFound`.
        """
        validate_key(key)
        path = (self._real_root / key).resolve()
        if not path.is_relative_to(self._real_root):
            # A symlink pointing out of the rig: treat it as absent, never follow it.
            log.warning("frame key %r resolves outside %s; refused", key, self._real_root)
            raise NotFound(f"no frame {key!r}")
        if not path.is_file():
            raise NotFound(f"no frame {key!r}")
        return path

    def _read(self, key: str) -> FrameData:
        path = self.path_of(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no frame {key!r}") from None
        return FrameData(data, etag_of(data))

    async def get(self, key: str) -> FrameData:
        # Validate on the loop so a bad key never costs a thread hop.
        validate_key(key)
        return await asyncio.to_thread(self._read, key)
