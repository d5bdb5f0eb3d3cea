"""The timeline and audio stores on S3 (``STREAMER_DATA_URL``), with the folder stores' contract (I/O).

::

    prefix/timelines/{id}.json        the document as sent; written whole (S3 shows no partial object)
    prefix/timelines/{id}.meta.json   {"name"}
    prefix/audio/{id}                 audio; also kept in the local cache folder, where PyAV reads it
                                      (the least recently used copies go past the cache's size)

Validation, ids, names and versions (ETags of the bytes) are the folder stores'. Conditional
writes are S3's own: a replace with ``If-Match`` reads the stored object, compares our version,
and writes with S3's ``If-Match`` on the ETag it read, so a write from another process in between
fails with 412 (:class:`StaleWrite`) instead of being lost; a create writes with
``If-None-Match: *`` (:class:`AlreadyExists`). The document is written before its name, so a
refused write never changes the stored name.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from streamer.core.errors import NotFound, StreamerError
from streamer.core.rig import Rig
from streamer.core.timeline import Timeline, loads, parse_timeline
from streamer.storage.audio import AUDIO_ID, AudioInfo, AudioStore, _Probe, probe_audio, validate_audio_id
from streamer.storage.errors import AlreadyExists
from streamer.storage.files import is_regular_file, remove_leftovers
from streamer.storage.s3data import PreconditionFailed, S3Data
from streamer.storage.timelines import (
    TIMELINE_ID,
    TimelineStore,
    _iso,
    _matches,
    _slug,
    validate_timeline_id,
    version_of,
)

log = logging.getLogger("streamer.storage")

TIMELINES = "timelines/"
AUDIO = "audio/"


class S3TimelineStore(TimelineStore):
    """Timeline documents by id under ``prefix/timelines/`` (see the module docstring)."""

    def __init__(self, data: S3Data, rig: Rig | None = None, audio: AudioStore | None = None) -> None:
        self.data = data
        self.rig = rig
        self.audio = audio
        self._lock = threading.Lock()
        self._durations: dict[str, tuple[Any, int | None]] = {}
        self._names: dict[str, tuple[str, str | None]] = {}  # id -> (meta ETag, name)

    def __repr__(self) -> str:
        return f"S3TimelineStore({self.data.url + TIMELINES!r})"

    def _key(self, timeline_id: str) -> str:
        return f"{TIMELINES}{validate_timeline_id(timeline_id)}.json"

    def _meta_key(self, timeline_id: str) -> str:
        return f"{TIMELINES}{validate_timeline_id(timeline_id)}.meta.json"

    def exists(self, timeline_id: str) -> bool:
        return self.data.head(self._key(timeline_id)) is not None

    def sweep_leftovers(self, older_than_s: float = 0) -> int:
        return 0  # an S3 PUT leaves no partial object behind

    def read_bytes(self, timeline_id: str) -> bytes:
        try:
            return self.data.get(self._key(timeline_id))[0]
        except NotFound:
            raise NotFound(f"no timeline {timeline_id!r}") from None

    def name_of(self, timeline_id: str) -> str | None:
        try:
            meta = json.loads(self.data.get(self._meta_key(timeline_id))[0])
        except (NotFound, ValueError):
            return None
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else None

    def _write_name(self, timeline_id: str, name: str | None) -> None:
        if name is not None:
            self.data.put(self._meta_key(timeline_id), json.dumps({"name": name}, ensure_ascii=False).encode())

    def put(
        self,
        timeline_id: str,
        document: object,
        name: str | None = None,
        rig: Rig | None = None,
        if_match: str | None = None,
    ) -> tuple[Timeline, bool, str]:
        key = self._key(timeline_id)
        timeline, name, data = self._prepared(document, name, rig)
        if if_match is None:
            created = self.data.head(key) is None
            self.data.put(key, data)
        else:
            try:
                stored, s3_etag = self.data.get(key)
                current: str | None = version_of(stored)
            except NotFound:
                current, s3_etag = None, None
            if not _matches(if_match, current):
                raise self._stale(timeline_id, if_match, current)
            created = False
            try:  # S3 checks that nobody wrote since we read
                self.data.put(key, data, if_match=s3_etag)
            except PreconditionFailed:
                raise self._stale(timeline_id, if_match, current) from None
        self._write_name(timeline_id, name)
        log.info("stored timeline %s (%d bytes) in %s", timeline_id, len(data), self.data.url)
        return timeline, created, version_of(data)

    def create(
        self, document: object, timeline_id: str | None = None, name: str | None = None, rig: Rig | None = None
    ) -> str:
        if timeline_id is not None:
            validate_timeline_id(timeline_id)
        _, name, data = self._prepared(document, name, rig)
        chosen = timeline_id
        while True:
            candidate = chosen or f"{_slug(name)}-{secrets.token_hex(2)}"
            try:
                self.data.put(self._key(candidate), data, if_none_match=True)
            except PreconditionFailed:
                if chosen is not None:
                    raise AlreadyExists(
                        f"timeline {chosen!r} already exists (PUT /timelines/{chosen} replaces it)"
                    ) from None
                continue  # a generated id taken meanwhile: draw another
            break
        self._write_name(candidate, name)
        log.info("created timeline %s (%d bytes) in %s", candidate, len(data), self.data.url)
        return candidate

    def delete(self, timeline_id: str) -> None:
        key = self._key(timeline_id)
        if self.data.head(key) is None:
            raise NotFound(f"no timeline {timeline_id!r}")
        self.data.delete(key)
        self.data.delete(self._meta_key(timeline_id))

    def list(self) -> builtins.list[dict[str, Any]]:
        docs, metas = {}, {}
        for obj in self.data.list(TIMELINES):
            stem = obj.key[len(TIMELINES) :]
            if stem.endswith(".meta.json"):
                metas[stem.removesuffix(".meta.json")] = obj
            elif stem.endswith(".json") and TIMELINE_ID.fullmatch(stem.removesuffix(".json")):
                docs[stem.removesuffix(".json")] = obj
        out = []
        for timeline_id, obj in sorted(docs.items(), key=lambda item: (-item[1].modified.timestamp(), item[0])):
            duration = self._cached_duration(timeline_id, obj.etag)
            meta = metas.get(timeline_id)
            name = self._cached_name(timeline_id, meta.etag) if meta is not None else None
            updated = _iso(obj.modified.timestamp())
            out.append({"id": timeline_id, "name": name or timeline_id, "duration_ms": duration, "updated": updated})
        return out

    def _cached_duration(self, timeline_id: str, etag: str) -> int | None:
        cached = self._durations.get(timeline_id)
        if cached is not None and cached[0] == etag:
            return cached[1]
        try:
            duration: int | None = parse_timeline(loads(self.read_bytes(timeline_id))).duration_ms
        except StreamerError as exc:
            log.warning("stored timeline %s does not parse: %s", timeline_id, exc)
            duration = None
        self._durations[timeline_id] = (etag, duration)
        return duration

    def _cached_name(self, timeline_id: str, etag: str) -> str | None:
        cached = self._names.get(timeline_id)
        if cached is not None and cached[0] == etag:
            return cached[1]
        name = self.name_of(timeline_id)
        self._names[timeline_id] = (etag, name)
        return name


# A cached audio file used this recently is never removed: a reader may be about to open it.
AUDIO_CACHE_KEEP_RECENT_S = 60.0


class S3AudioStore(AudioStore):
    """Audio by id under ``prefix/audio/``, each file also in the local cache folder ``cache``.

    Uploads are probed in the cache folder and then stored whole on S3 (content-addressed ids,
    so another process storing the same bytes writes the same object). A file another process
    stored is downloaded into the cache the first time it is needed (PyAV reads files). The
    cache keeps to ``cache_bytes``: when a file comes in, the copies used longest ago are
    removed (each use touches its copy), except those used in the last minute; they are still
    on S3 and come back on their next use.
    """

    def __init__(
        self, data: S3Data, cache: Path | str, max_duration_ms: int = 600_000, cache_bytes: int = 1024**3
    ) -> None:
        super().__init__(cache, max_duration_ms)
        self.data = data
        self.cache_bytes = cache_bytes

    def __repr__(self) -> str:
        return f"S3AudioStore({self.data.url + AUDIO!r}, cache={str(self.root)!r})"

    def path(self, audio_id: str) -> Path:
        local = self.root / validate_audio_id(audio_id)
        if is_regular_file(local):
            with contextlib.suppress(OSError):
                os.utime(local)  # used now: the last to be trimmed
            return local
        try:
            self.data.download(AUDIO + audio_id, local)
        except NotFound:
            raise NotFound(f"no audio {audio_id!r}") from None
        self._trim(keep=local.name)
        return local

    def info(self, audio_id: str) -> AudioInfo:
        self.path(audio_id)  # fetched if the cache lost it, and touched: its reader comes next
        return super().info(audio_id)

    def _trim(self, keep: str) -> None:
        """Remove the copies used longest ago until the cache fits ``cache_bytes`` (never ``keep``)."""
        copies: list[tuple[float, int, str]] = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.name.startswith("."):  # uploads and downloads in progress
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        copies.append((info.st_mtime, info.st_size, entry.name))
        total = sum(size for _, size, _ in copies)
        recent = time.time() - AUDIO_CACHE_KEEP_RECENT_S
        removed, freed = 0, 0
        for used, size, name in sorted(copies):
            if total - freed <= self.cache_bytes or used > recent:
                break
            if name == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                (self.root / name).unlink()
            self._info.pop(name, None)
            removed, freed = removed + 1, freed + size
        if removed:
            log.info(
                "audio cache %s: removed %d copies used longest ago (%.1f MB; %.1f MB left, limit %.1f MB)",
                self.root,
                removed,
                freed / 2**20,
                (total - freed) / 2**20,
                self.cache_bytes / 2**20,
            )

    def exists(self, audio_id: str) -> bool:
        if AUDIO_ID.fullmatch(audio_id) is None:
            return False
        return is_regular_file(self.root / audio_id) or self.data.head(AUDIO + audio_id) is not None

    def sweep_leftovers(self, older_than_s: float = 0) -> int:
        # Only this machine's cache: temp files of uploads and downloads a crash interrupted.
        return remove_leftovers(self.root, ".upload-*", older_than_s) + remove_leftovers(
            self.root, ".download-*", older_than_s
        )

    def _store(self, tmp: Path, audio_id: str, probe: _Probe, filename: str | None) -> AudioInfo:
        """Put the probed temp file on S3 under ``audio_id`` and keep it in the cache (blocking)."""
        final = self.root / audio_id
        if self.data.head(AUDIO + audio_id) is None:
            self.data.put_file(AUDIO + audio_id, tmp, probe.content_type)
        tmp.replace(final)
        info = AudioInfo(audio_id, final, probe.duration_ms, probe.content_type)
        self._info[audio_id] = info
        self._trim(keep=audio_id)
        log.info("stored audio %s (%d ms, from %r) in %s", audio_id, probe.duration_ms, filename, self.data.url)
        return info

    def _finish(self, tmp: Path, digest: str, filename: str | None) -> AudioInfo:
        probe = probe_audio(tmp)
        self._check_duration(probe)
        return self._store(tmp, f"{digest[:16]}.{probe.ext}", probe, filename)

    def register_file(self, src: Path, audio_id: str) -> AudioInfo:
        validate_audio_id(audio_id)
        probe = probe_audio(src)
        self._check_duration(probe)
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            shutil.copyfile(src, tmp)
            return self._store(tmp, audio_id, probe, src.name)
        finally:
            tmp.unlink(missing_ok=True)
