"""Several rigs on one server: the rigs folder, rig ids, and frame stores that keep rigs apart (I/O).

The default rig (``STREAMER_FRAMES_DIR``, or S3) keeps its frame keys as they are. Every valid
rig folder of ``STREAMER_RIGS_DIR`` is offered under its folder name (its *rig id*), and its
frames live under the key prefix ``rigs/{id}/``: in the frame cache, in URLs
(``/frames/rigs/{id}/endpoints/...``) and so in every viewer's image cache. Rig keys only ever
start with ``endpoints/`` or ``sequences/``, so the two namespaces cannot collide.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

from streamer.core.errors import CommandError, NotFound, RigError
from streamer.core.keys import validate_key
from streamer.core.rig import Rig, suggest
from streamer.frames import FrameData, FrameStore
from streamer.rigload import load_rig
from streamer.settings import ConfigError

log = logging.getLogger(__name__)

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


def key_prefix(rig_id: str) -> str:
    """Where ``rig_id``'s frames live in the frame store, the cache and URLs (``""`` for the default rig)."""
    return "" if rig_id == DEFAULT_RIG_ID else f"{RIGS_KEY_ROOT}{rig_id}/"


def find_rigs(rigs_dir: Path) -> dict[str, tuple[Path, Rig]]:
    """Every valid rig folder in ``rigs_dir`` by id, loaded; the others are skipped with a warning.

    Raises :class:`ConfigError` when ``rigs_dir`` itself is not a folder.
    """
    if not rigs_dir.is_dir():
        raise ConfigError(f"STREAMER_RIGS_DIR: {str(rigs_dir)!r} is not a folder")
    found: dict[str, tuple[Path, Rig]] = {}
    for path in sorted(rigs_dir.iterdir()):
        if path.name.startswith(".") or not path.is_dir():
            continue
        if not RIG_ID.fullmatch(path.name):
            log.warning("rigs: skipping %s: a rig folder's name must be letters, digits, '_' or '-' (at most 64)", path)
            continue
        if path.name == DEFAULT_RIG_ID:
            log.warning(
                "rigs: skipping %s: %r is the name of the server's default rig; rename the folder", path, path.name
            )
            continue
        try:
            rig = load_rig(path)
        except RigError as exc:
            shown = "; ".join(exc.problems[:MAX_PROBLEMS_LOGGED])
            more = len(exc.problems) - MAX_PROBLEMS_LOGGED
            log.warning(
                "rigs: skipping %s: not a valid rig: %s%s (see `streamer rig check %s`)",
                path,
                shown,
                f" (and {more} more)" if more > 0 else "",
                path,
            )
            continue
        found[path.name] = (path, rig)
    log.info("rigs: %d found in %s: %s", len(found), rigs_dir, ", ".join(found) or "none")
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
