"""Stored timelines under ``data_dir/timelines``: documents by id, their names and versions (I/O)."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamer.core.errors import InvalidKey, NotFound, StreamerError, TimelineError
from streamer.core.rig import Rig
from streamer.core.timeline import Timeline, check_against_rig, loads, parse_timeline
from streamer.storage.errors import AlreadyExists, StaleWrite
from streamer.storage.files import fsync_dir, is_regular_file, read_regular, remove_leftovers, write_atomic

if TYPE_CHECKING:
    from streamer.storage.audio import AudioStore

log = logging.getLogger("streamer.storage")

TIMELINE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_NAME_CHARS = 120
_SLUG_DROP = re.compile(r"[^a-z0-9]+")


def version_of(data: bytes) -> str:
    """A stored document's version: a strong ETag (quoted) from its bytes."""
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


def _matches(if_match: str, current: str | None) -> bool:
    """RFC 9110 If-Match: strong comparison against a list of tags, or ``*`` (any stored version)."""
    if if_match.strip() == "*":
        return current is not None
    return current is not None and any(tag.strip() == current for tag in if_match.split(","))


def validate_timeline_id(timeline_id: object) -> str:
    """Return ``timeline_id`` if it matches ``[a-z0-9][a-z0-9_-]{0,63}``, else raise :class:`InvalidKey`."""
    if not isinstance(timeline_id, str) or not TIMELINE_ID.fullmatch(timeline_id):
        raise InvalidKey(f"timeline id {str(timeline_id)[:80]!r} must match [a-z0-9][a-z0-9_-]{{0,63}}")
    return timeline_id


def clean_name(name: object, where: str = "name") -> str:
    """A timeline's human name: one line of at most ``MAX_NAME_CHARS`` characters, whitespace collapsed.

    Raises :class:`InvalidKey` for a name that is not a string, is empty or has control characters.
    """
    if not isinstance(name, str):
        raise InvalidKey(f"{where}: must be a string, got {type(name).__name__}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name.replace("\n", " ").replace("\t", " ")):
        raise InvalidKey(f"{where}: must not contain control characters")
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidKey(f"{where}: must not be empty")
    if len(cleaned) > MAX_NAME_CHARS:
        raise InvalidKey(f"{where}: {len(cleaned)} characters is over the limit of {MAX_NAME_CHARS}")
    return cleaned


def short_name(text: str, limit: int = 60) -> str:
    """``text`` as a name: one printable line cut at a word boundary to ``limit`` characters (ellipsis)."""
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1].rsplit(" ", 1)[0] if " " in line[: limit - 1] else line[: limit - 1]
    return cut.rstrip(" ,.;:!?-") + "…"


def _slug(name: str | None) -> str:
    slug = _SLUG_DROP.sub("-", (name or "").lower()).strip("-")[:40].strip("-")
    return slug or "timeline"


def _document_name(document: object) -> str | None:
    """The optional ``name`` of a v1 document (face_rig documents have none)."""
    if isinstance(document, dict) and "version" in document and document.get("name") is not None:
        return clean_name(document["name"], "name")
    return None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class TimelineStore:
    """Timeline documents by id in one folder.

    Documents are stored as sent (so a face_rig editor gets its keyframe list back) after
    validating them with :func:`parse_timeline`, against ``rig`` when given, and checking that
    their ``audio.id`` exists in ``audio`` when given.
    """

    def __init__(self, root: Path | str, rig: Rig | None = None, audio: AudioStore | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.rig = rig
        self.audio = audio
        self._lock = threading.Lock()
        self._durations: dict[str, tuple[tuple[int, int], int | None]] = {}

    def __repr__(self) -> str:
        return f"TimelineStore({str(self.root)!r})"

    def _path(self, timeline_id: str) -> Path:
        return self.root / f"{validate_timeline_id(timeline_id)}.json"

    def validate(self, document: object, rig: Rig | None = None) -> Timeline:
        """The parsed timeline, checked against ``rig`` (default: the store's); raises :class:`TimelineError`."""
        timeline = parse_timeline(document)
        rig = rig or self.rig
        if rig is not None:
            check_against_rig(timeline, rig)
        self.check_audio(None if timeline.audio is None else timeline.audio.id)
        return timeline

    def check_audio(self, audio_id: str | None) -> None:
        """Raise :class:`TimelineError` if a timeline's ``audio.id`` is not in the audio store."""
        if self.audio is not None and audio_id is not None and not self.audio.exists(audio_id):
            raise TimelineError(f"audio.id: no audio {audio_id!r} (upload it with POST /audio first)")

    def exists(self, timeline_id: str) -> bool:
        return is_regular_file(self._path(timeline_id))

    def sweep_leftovers(self, older_than_s: float = 0) -> int:
        """Remove the temp files of writes a crash interrupted (call at start-up)."""
        return remove_leftovers(self.root, ".tmp-*", older_than_s)

    def read_bytes(self, timeline_id: str) -> bytes:
        """The stored document's bytes; raises :class:`NotFound` or :class:`InvalidKey`."""
        path = self._path(timeline_id)
        try:
            return read_regular(path)
        except FileNotFoundError:
            raise NotFound(f"no timeline {timeline_id!r}") from None

    def get_document(self, timeline_id: str) -> Any:
        """The stored JSON document; raises :class:`NotFound` or :class:`InvalidKey`."""
        return loads(self.read_bytes(timeline_id))

    def load(self, timeline_id: str) -> Timeline:
        """The stored timeline, parsed (not re-checked against the rig: resolving does that)."""
        return parse_timeline(self.get_document(timeline_id))

    def _meta_path(self, timeline_id: str) -> Path:
        return self.root / f"{validate_timeline_id(timeline_id)}.meta.json"

    def name_of(self, timeline_id: str) -> str | None:
        """The stored human name of ``timeline_id``, or None when it has none."""
        try:
            meta = json.loads(self._meta_path(timeline_id).read_bytes())
        except (OSError, ValueError):
            return None
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else None

    def _write(self, path: Path, timeline_id: str, data: bytes, name: str | None) -> None:
        # Name first: a crash between the two leaves a name without a document, which list() ignores.
        if name is not None:
            write_atomic(self._meta_path(timeline_id), json.dumps({"name": name}, ensure_ascii=False).encode())
        write_atomic(path, data)

    def _prepared(self, document: object, name: str | None, rig: Rig | None) -> tuple[Timeline, str | None, bytes]:
        """``document`` validated, its name (``name``, else the document's) and the bytes to store."""
        timeline = self.validate(document, rig)
        name = clean_name(name) if name is not None else _document_name(document)
        return timeline, name, json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")

    @staticmethod
    def _stale(timeline_id: str, if_match: str, current: str | None) -> StaleWrite:
        """The error for a write whose ``if_match`` does not list the stored version ``current`` (None: nothing)."""
        return StaleWrite(
            f"timeline {timeline_id!r} changed since it was read "
            f"(If-Match {if_match[:80]!r}, stored {current or 'nothing'}): "
            "reload it, or save without If-Match to overwrite"
        )

    def put(
        self,
        timeline_id: str,
        document: object,
        name: str | None = None,
        rig: Rig | None = None,
        if_match: str | None = None,
    ) -> tuple[Timeline, bool, str]:
        """Validate ``document`` and store it under ``timeline_id`` (replacing any).

        Returns the parsed timeline, whether it was created (False: replaced) and the new
        version (:func:`version_of`). The name is ``name``, else the document's ``name``; a
        replacement without either keeps the old name. With ``if_match`` (an ``If-Match``
        header's value) the write happens only if the stored version is one it lists (``*``:
        any), else :class:`StaleWrite`. A document that fails validation (against ``rig``, default
        the store's) or a refused write leaves the stored files untouched.
        """
        path = self._path(timeline_id)
        timeline, name, data = self._prepared(document, name, rig)
        with self._lock:
            created = not path.exists()
            if if_match is not None:
                current = None if created else version_of(read_regular(path))
                if not _matches(if_match, current):
                    raise self._stale(timeline_id, if_match, current)
            self._write(path, timeline_id, data, name)
        log.info("stored timeline %s (%d bytes)", timeline_id, len(data))
        return timeline, created, version_of(data)

    def create(
        self, document: object, timeline_id: str | None = None, name: str | None = None, rig: Rig | None = None
    ) -> str:
        """Store a new document under ``timeline_id`` (or one made from its name) and return the id.

        The name is ``name``, else the document's ``name``. A generated id is the name's slug
        and a short random suffix (``good-morning-3fa2``). Raises :class:`AlreadyExists` if
        ``timeline_id`` is taken. The document is checked against ``rig`` (default: the store's).
        """
        if timeline_id is not None:
            validate_timeline_id(timeline_id)
        timeline, name, data = self._prepared(document, name, rig)
        with self._lock:
            while timeline_id is None:
                candidate = f"{_slug(name)}-{secrets.token_hex(2)}"
                timeline_id = None if self._path(candidate).exists() else candidate
            path = self._path(timeline_id)
            if path.exists():
                raise AlreadyExists(
                    f"timeline {timeline_id!r} already exists (PUT /timelines/{timeline_id} replaces it)"
                )
            self._write(path, timeline_id, data, name)
        log.info("created timeline %s (%d bytes, %d ms)", timeline_id, len(data), timeline.duration_ms)
        return timeline_id

    def delete(self, timeline_id: str) -> None:
        """Remove a stored timeline; raises :class:`NotFound` if there is none."""
        path = self._path(timeline_id)
        with self._lock:
            try:
                path.unlink()
            except FileNotFoundError:
                raise NotFound(f"no timeline {timeline_id!r}") from None
            with contextlib.suppress(FileNotFoundError):
                self._meta_path(timeline_id).unlink()
        fsync_dir(self.root)

    def _duration(self, timeline_id: str, path: Path, stat: os.stat_result) -> int | None:
        version = (stat.st_mtime_ns, stat.st_size)
        cached = self._durations.get(timeline_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            duration: int | None = parse_timeline(loads(read_regular(path))).duration_ms
        except (OSError, StreamerError) as exc:
            log.warning("stored timeline %s does not parse: %s", timeline_id, exc)
            duration = None
        self._durations[timeline_id] = (version, duration)
        return duration

    def list(self) -> builtins.list[dict[str, Any]]:
        """``[{id, name, duration_ms, updated}]``, most recently stored first (ties by id).

        ``name`` is the human name, or the id when the timeline has none; ``updated`` is ISO 8601 UTC.
        """
        found = []
        for path in self.root.glob("*.json"):
            timeline_id = path.stem
            if not TIMELINE_ID.fullmatch(timeline_id) or not is_regular_file(path):
                continue  # temp files (".tmp-..."), names ("x.meta"), symlinks and strays
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # deleted meanwhile
            found.append((-stat.st_mtime_ns, timeline_id, path, stat))
        out = []
        for _, timeline_id, path, stat in sorted(found):
            duration = self._duration(timeline_id, path, stat)
            name = self.name_of(timeline_id) or timeline_id
            out.append({"id": timeline_id, "name": name, "duration_ms": duration, "updated": _iso(stat.st_mtime)})
        return out
