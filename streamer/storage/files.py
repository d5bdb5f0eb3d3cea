"""Files in the data folder: atomic writes, reads that never follow a symlink, fsync, sweeping (I/O)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("streamer.storage")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def remove_leftovers(folder: Path, pattern: str, older_than_s: float = 0) -> int:
    """Remove files matching ``pattern`` that a crash left in ``folder``; returns how many.

    Only at start-up, before this process writes. When other processes share the folder
    (``REDIS_URL``), pass ``older_than_s``: their writes in progress are younger than that.
    """
    removed = 0
    cutoff = time.time() - older_than_s
    with contextlib.suppress(FileNotFoundError):
        for path in folder.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                if older_than_s and path.stat().st_mtime > cutoff:
                    continue
                path.unlink()
                removed += 1
    if removed:
        log.info("removed %d file(s) left by an interrupted write in %s", removed, folder)
    return removed


def is_regular_file(path: Path) -> bool:
    """Whether ``path`` is a regular file itself: a symlink planted in the data folder is not."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def read_regular(path: Path) -> bytes:
    """The bytes of ``path``, never through a symlink; FileNotFoundError for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            log.warning("refused %s: a symlink in the data folder", path)
        raise FileNotFoundError(str(path)) from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise FileNotFoundError(str(path))
        return fh.read()


def fsync_path(path: Path) -> None:
    """Flush a written file (or a folder's entries, after a rename) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    # Makes the rename durable; not supported everywhere (e.g. Windows), hence best effort.
    with contextlib.suppress(OSError):
        fsync_path(folder)


def flush_to_disk(fh: Any, data: bytes) -> None:
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())
