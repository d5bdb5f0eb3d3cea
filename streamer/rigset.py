"""Several rigs on one server: the rigs folder, rig ids, and frame stores that keep rigs apart (I/O).

The default rig (``STREAMER_FRAMES_DIR``, or S3) keeps its frame keys as they are. Every valid
rig folder of ``STREAMER_RIGS_DIR`` (a local folder, or ``s3://S3_BUCKET/PREFIX/`` whose
"folders" are rigs) is offered under its folder name (its *rig id*), and its frames live under
the key prefix ``rigs/{id}/``: in the frame cache, in URLs
(``/frames/rigs/{id}/endpoints/...``) and so in every viewer's image cache. Rig keys only ever
start with ``endpoints/`` or ``sequences/``, so the two namespaces cannot collide.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from streamer.core.errors import CommandError, NotFound, RigError
from streamer.core.keys import validate_key
from streamer.core.rig import Rig, suggest
from streamer.frames import FrameData, FrameStore
from streamer.rigload import load_rig
from streamer.s3 import S3Options, list_folders, load_s3_rig
from streamer.settings import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_RIG_ID = "default"
RIGS_KEY_ROOT = "rigs/"
# A rig id is a folder name that is also one safe URL and key segment.
RIG_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_PROBLEMS_LOGGED = 3


class UnknownRig(CommandError):
    """A request names a rig this server does not offer."""


def check_rig_id(value: object, known: Mapping[str, object]) -> str:
    """``value`` if it names a rig in ``known``; else :class:`UnknownRig` listing what there is."""
    if not isinstance(value, str):
        raise UnknownRig(f"rig: must be a string (a rig id from GET /rigs), got {value!r}")
    if value not in known:
        choices = ", ".join(known)
        raise UnknownRig(f"rig: unknown rig {value[:80]!r}{suggest(value, list(known))} (this server has: {choices})")
    return value


def pick(rigs: Mapping[str, T], rig_id: object = None) -> T:
    """The rig ``rig_id`` names in ``rigs`` (the default rig for None); raises :class:`UnknownRig`."""
    return rigs[DEFAULT_RIG_ID if rig_id is None else check_rig_id(rig_id, rigs)]


def key_prefix(rig_id: str) -> str:
    """Where ``rig_id``'s frames live in the frame store, the cache and URLs (``""`` for the default rig)."""
    return "" if rig_id == DEFAULT_RIG_ID else f"{RIGS_KEY_ROOT}{rig_id}/"


def _usable_id(name: str, where: str) -> bool:
    """Whether folder ``name`` can be a rig id; logs why not."""
    if not RIG_ID.fullmatch(name):
        log.warning("rigs: skipping %s: a rig folder's name must be letters, digits, '_' or '-' (at most 64)", where)
        return False
    if name == DEFAULT_RIG_ID:
        log.warning("rigs: skipping %s: %r is the name of the server's default rig; rename the folder", where, name)
        return False
    return True


def _skip_invalid(where: str, exc: RigError, fix: str) -> None:
    shown = "; ".join(exc.problems[:MAX_PROBLEMS_LOGGED])
    more = len(exc.problems) - MAX_PROBLEMS_LOGGED
    log.warning(
        "rigs: skipping %s: not a valid rig: %s%s (%s)", where, shown, f" (and {more} more)" if more > 0 else "", fix
    )


def find_rigs(rigs_dir: Path) -> dict[str, tuple[Path, Rig]]:
    """Every valid rig folder in ``rigs_dir`` by id, loaded; the others are skipped with a warning.

    Raises :class:`ConfigError` when ``rigs_dir`` itself is not a folder.
    """
    if not rigs_dir.is_dir():
        raise ConfigError(f"STREAMER_RIGS_DIR: {str(rigs_dir)!r} is not a folder")
    found: dict[str, tuple[Path, Rig]] = {}
    for path in sorted(rigs_dir.iterdir()):
        if path.name.startswith(".") or not path.is_dir() or not _usable_id(path.name, str(path)):
            continue
        try:
            found[path.name] = (path, load_rig(path))
        except RigError as exc:
            _skip_invalid(str(path), exc, f"see `streamer rig check {path}`")
    log.info("rigs: %d found in %s: %s", len(found), rigs_dir, ", ".join(found) or "none")
    return found


async def find_s3_rigs(client: Any, rigs: S3Options, skip_root: str) -> dict[str, tuple[S3Options, Rig]]:
    """Every valid rig below ``rigs``' prefix (one "folder" each) by id, with its own options.

    ``skip_root`` is the default rig's prefix, which is not offered twice. Invalid rigs are
    skipped with a warning; an unreachable bucket raises as :func:`load_s3_rig` does.
    """
    found: dict[str, tuple[S3Options, Rig]] = {}
    for name in await list_folders(client, rigs):
        options = dataclasses.replace(rigs, prefix=rigs.root + name + "/")
        where = f"s3://{rigs.bucket}/{options.root}"
        if options.root == skip_root or not _usable_id(name, where):
            continue
        try:
            found[name] = (options, await load_s3_rig(client, options))
        except RigError as exc:
            _skip_invalid(where, exc, f"fix it locally with `streamer rig check`, then `streamer upload` it to {where}")
    log.info("rigs: %d found in s3://%s/%s: %s", len(found), rigs.bucket, rigs.root, ", ".join(found) or "none")
    return found


class RigsFrameStore:
    """The default rig's store, plus one store per other rig for keys under ``rigs/{id}/``."""

    def __init__(self, default: FrameStore, rigs: Mapping[str, FrameStore]) -> None:
        self.default = default
        self.rigs = dict(rigs)

    def __repr__(self) -> str:
        return f"RigsFrameStore({self.default!r}, rigs={sorted(self.rigs)})"

    async def get(self, key: str) -> FrameData:
        validate_key(key)
        if not key.startswith(RIGS_KEY_ROOT):
            return await self.default.get(key)
        _, rig_id, rest = (key.split("/", 2) + ["", ""])[:3]
        store = self.rigs.get(rig_id)
        if store is None or not rest:
            raise NotFound(f"no frame {key!r}")
        return await store.get(rest)


class PrefixedFrameStore:
    """One rig's frames by its own keys, read from a store that holds them under ``prefix``."""

    def __init__(self, store: FrameStore, prefix: str) -> None:
        self.store, self.prefix = store, prefix

    def __repr__(self) -> str:
        return f"PrefixedFrameStore({self.store!r}, {self.prefix!r})"

    async def get(self, key: str) -> FrameData:
        return await self.store.get(self.prefix + validate_key(key))
