"""Stored timelines and uploaded audio under the data folder (I/O).

::

    data_dir/timelines/{id}.json    timeline documents as sent (v1 or face_rig), written atomically
    data_dir/timelines/{id}.meta.json   {"name"}: the timeline's human name (Say text, file name)
    data_dir/audio/{id}             audio files; uploads are named {content hash}.{ext}

Errors (all :class:`StreamerError`): :class:`InvalidKey` for a bad id, :class:`NotFound`,
:class:`TimelineError` for a document that does not validate, :class:`AlreadyExists`,
:class:`AudioError` for an upload that is not usable audio, :class:`PayloadTooLarge`,
:class:`StaleWrite` when a conditional replace names a version that is no longer stored.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamer.core.errors import InvalidKey, NotFound, StreamerError, TimelineError
from streamer.core.rig import Rig
from streamer.core.timeline import Timeline, check_against_rig, loads, parse_timeline

log = logging.getLogger(__name__)

TIMELINE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_NAME_CHARS = 120
_SLUG_DROP = re.compile(r"[^a-z0-9]+")
AUDIO_EXTENSIONS = ("wav", "ogg", "mp3", "m4a", "opus", "flac")
AUDIO_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\.(?:" + "|".join(AUDIO_EXTENSIONS) + ")")
EXAMPLE_AUDIO_SUFFIXES = (".wav", ".ogg", ".mp3")
_WRITE_CHUNK = 1024 * 1024


class AudioError(StreamerError, ValueError):
    """An upload is not audio we can use (not audio, unsupported format, too long)."""


class PayloadTooLarge(StreamerError, ValueError):
    """A request body or upload is over its size limit."""


class StaleWrite(StreamerError):
    """A conditional write (``If-Match``) named a version that is no longer the stored one (HTTP 412)."""


def version_of(data: bytes) -> str:
    """A stored document's version: a strong ETag (quoted) from its bytes."""
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


def _matches(if_match: str, current: str | None) -> bool:
    """RFC 9110 If-Match: strong comparison against a list of tags, or ``*`` (any stored version)."""
    if if_match.strip() == "*":
        return current is not None
    return current is not None and any(tag.strip() == current for tag in if_match.split(","))


class AlreadyExists(StreamerError, ValueError):
    """Something is already stored under the requested id."""


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


def validate_audio_id(audio_id: object) -> str:
    """Return ``audio_id`` if it is ``name.ext`` with a known audio extension, else raise :class:`InvalidKey`."""
    if not isinstance(audio_id, str) or not AUDIO_ID.fullmatch(audio_id):
        extensions = ", .".join(AUDIO_EXTENSIONS)
        raise InvalidKey(f"audio id {str(audio_id)[:80]!r} must be a name of [A-Za-z0-9_-] and one of .{extensions}")
    return audio_id


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
    _fsync_dir(path.parent)


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


def _read_regular(path: Path) -> bytes:
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


def _fsync_dir(folder: Path) -> None:
    # Makes the rename durable; not supported everywhere (e.g. Windows), hence best effort.
    with contextlib.suppress(OSError):
        fsync_path(folder)


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
            return _read_regular(path)
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
        timeline = self.validate(document, rig)
        name = clean_name(name) if name is not None else _document_name(document)
        data = json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")
        with self._lock:
            created = not path.exists()
            if if_match is not None:
                current = None if created else version_of(_read_regular(path))
                if not _matches(if_match, current):
                    raise StaleWrite(
                        f"timeline {timeline_id!r} changed since it was read "
                        f"(If-Match {if_match[:80]!r}, stored {current or 'nothing'}): "
                        "reload it, or save without If-Match to overwrite"
                    )
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
        timeline = self.validate(document, rig)
        name = clean_name(name) if name is not None else _document_name(document)
        data = json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")
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
        _fsync_dir(self.root)

    def _duration(self, timeline_id: str, path: Path, stat: os.stat_result) -> int | None:
        version = (stat.st_mtime_ns, stat.st_size)
        cached = self._durations.get(timeline_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            duration: int | None = parse_timeline(loads(_read_regular(path))).duration_ms
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


@dataclass(frozen=True)
class AudioInfo:
    """A stored audio file."""

    id: str
    path: Path
    duration_ms: int
    content_type: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "duration_ms": self.duration_ms, "content_type": self.content_type}


# container format (as FFmpeg names it) -> (extension, content type, accepted codecs or None for any)
_CONTAINERS: dict[str, tuple[str, str, frozenset[str] | None]] = {
    "wav": ("wav", "audio/wav", None),
    "mp3": ("mp3", "audio/mpeg", frozenset({"mp3", "mp3float"})),
    "ogg": ("ogg", "audio/ogg", frozenset({"vorbis", "opus", "flac"})),
    "flac": ("flac", "audio/flac", frozenset({"flac"})),
    "mov,mp4,m4a,3gp,3g2,mj2": ("m4a", "audio/mp4", frozenset({"aac", "alac", "mp3", "mp3float"})),
}
ACCEPTED_FORMATS = "WAV, MP3, OGG (Vorbis or Opus), M4A (AAC) or FLAC"


@dataclass(frozen=True)
class _Probe:
    ext: str
    content_type: str
    duration_ms: int


def probe_audio(path: Path) -> _Probe:
    """Check that ``path`` is decodable audio in an accepted format; raises :class:`AudioError`."""
    import av  # heavy import, only where audio is handled

    try:
        with av.open(str(path), mode="r") as container:
            fmt = container.format.name
            streams = container.streams
            audio = streams.audio[0] if streams.audio else None
            if audio is None:
                raise AudioError(f"upload is not audio: no audio stream found (format {fmt!r})")
            for video in streams.video:
                if not video.disposition & av.stream.Disposition.attached_pic:
                    raise AudioError(f"upload has a video stream (format {fmt!r}); send audio only")
            if fmt not in _CONTAINERS:
                raise AudioError(f"unsupported audio format {fmt!r}; accepted: {ACCEPTED_FORMATS}")
            ext, content_type, codecs = _CONTAINERS[fmt]
            codec = audio.codec_context.name
            if codecs is not None and codec not in codecs:
                raise AudioError(f"unsupported audio codec {codec!r} in {fmt!r}; accepted: {ACCEPTED_FORMATS}")
            if fmt == "ogg" and codec == "opus":
                ext = "opus"
            duration_ms = _duration_ms(container, audio)
            # Decoding one frame proves the stream is real audio, not a header on junk.
            if next(container.decode(audio), None) is None:
                raise AudioError("upload is not audio: the audio stream has no samples")
    except AudioError:
        raise
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise AudioError(f"upload is not audio: {getattr(exc, 'strerror', None) or exc}") from exc
    if duration_ms <= 0:
        raise AudioError("upload is not audio: its duration is zero")
    return _Probe(ext, content_type, duration_ms)


def _duration_ms(container: Any, stream: Any) -> int:
    if stream.duration is not None and stream.time_base is not None:
        return int(stream.duration * stream.time_base * 1000)
    if container.duration is not None:
        return int(container.duration // 1000)  # AV_TIME_BASE is microseconds
    # No header duration (some streamed MP3s): count it from the packets, exactly.
    total = 0
    for packet in container.demux(stream):
        if packet.duration:
            total += packet.duration
    container.seek(0)
    return int(total * stream.time_base * 1000) if stream.time_base else 0


class AudioStore:
    """Audio files by id in one folder; uploads are content-addressed so saving is idempotent."""

    def __init__(self, root: Path | str, max_duration_ms: int = 600_000) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_duration_ms = max_duration_ms
        self._info: dict[str, AudioInfo] = {}

    def __repr__(self) -> str:
        return f"AudioStore({str(self.root)!r})"

    def path(self, audio_id: str) -> Path:
        """The file of ``audio_id``; raises :class:`InvalidKey` or :class:`NotFound`."""
        path = self.root / validate_audio_id(audio_id)
        if not is_regular_file(path):
            if path.is_symlink():
                log.warning("refused audio %s: a symlink in the data folder", path)
            raise NotFound(f"no audio {audio_id!r}")
        return path

    def exists(self, audio_id: str) -> bool:
        return AUDIO_ID.fullmatch(audio_id) is not None and is_regular_file(self.root / audio_id)

    def sweep_leftovers(self, older_than_s: float = 0) -> int:
        """Remove partial uploads a crash interrupted (call at start-up)."""
        return remove_leftovers(self.root, ".upload-*", older_than_s)

    def info(self, audio_id: str) -> AudioInfo:
        """Duration and content type of ``audio_id`` (probed once, then cached; blocking on a miss)."""
        cached = self._info.get(audio_id)
        if cached is not None and is_regular_file(cached.path):
            return cached
        path = self.path(audio_id)
        probe = probe_audio(path)
        info = AudioInfo(audio_id, path, probe.duration_ms, probe.content_type)
        self._info[audio_id] = info
        return info

    def _check_duration(self, probe: _Probe) -> None:
        if probe.duration_ms > self.max_duration_ms:
            raise AudioError(
                f"audio is {probe.duration_ms / 1000:.1f} s long; the limit is {self.max_duration_ms // 1000} s"
            )

    def _finish(self, tmp: Path, digest: str, filename: str | None) -> AudioInfo:
        """Probe the complete temp file and move it into place (blocking)."""
        probe = probe_audio(tmp)
        self._check_duration(probe)
        audio_id = f"{digest[:16]}.{probe.ext}"
        final = self.root / audio_id
        if final.is_file():
            tmp.unlink()  # same bytes already stored
        else:
            os.replace(tmp, final)
            _fsync_dir(self.root)
        info = AudioInfo(audio_id, final, probe.duration_ms, probe.content_type)
        self._info[audio_id] = info
        log.info("stored audio %s (%s, %d ms, from %r)", audio_id, probe.content_type, probe.duration_ms, filename)
        return info

    async def save_stream(self, chunks: AsyncIterator[bytes], filename: str | None, max_bytes: int) -> AudioInfo:
        """Store an upload read from ``chunks``; returns its info.

        Raises :class:`PayloadTooLarge` as soon as more than ``max_bytes`` arrive (the rest is
        not read) and :class:`AudioError` if the bytes are not accepted audio. Nothing is
        left behind on failure.
        """
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        tmp = Path(tmp_name)
        hasher = hashlib.sha256()
        total = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                pending: builtins.list[bytes] = []
                pending_size = 0
                async for chunk in chunks:
                    total += len(chunk)
                    if total > max_bytes:
                        raise PayloadTooLarge(f"upload is larger than the limit of {max_bytes} bytes")
                    hasher.update(chunk)
                    pending.append(chunk)
                    pending_size += len(chunk)
                    if pending_size >= _WRITE_CHUNK:
                        await asyncio.to_thread(fh.write, b"".join(pending))
                        pending, pending_size = [], 0
                if total == 0:
                    raise AudioError("upload is not audio: the body is empty")
                await asyncio.to_thread(_flush_to_disk, fh, b"".join(pending))
            return await asyncio.to_thread(self._finish, tmp, hasher.hexdigest(), filename)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def register_file(self, src: Path, audio_id: str) -> AudioInfo:
        """Copy ``src`` in under ``audio_id`` after probing it (blocking); for examples and imports."""
        validate_audio_id(audio_id)
        probe = probe_audio(src)
        self._check_duration(probe)
        final = self.root / audio_id
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        os.close(fd)
        try:
            shutil.copyfile(src, tmp_name)
            os.replace(tmp_name, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        _fsync_dir(self.root)
        info = AudioInfo(audio_id, final, probe.duration_ms, probe.content_type)
        self._info[audio_id] = info
        return info


def _flush_to_disk(fh: Any, data: bytes) -> None:
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


def seed_examples(examples_dir: Path, timelines: TimelineStore, audio: AudioStore) -> builtins.list[str]:
    """Store the example audio (id = file name) and timelines (id = stem) that are not stored yet.

    Blocking. Examples that fail validation are skipped with a warning; returns what was added.
    """
    added: builtins.list[str] = []
    if not examples_dir.is_dir():
        log.info("no examples folder at %s; nothing to seed", examples_dir)
        return added
    for src in sorted(examples_dir.iterdir()):
        if src.suffix.lower() not in EXAMPLE_AUDIO_SUFFIXES or not src.is_file():
            continue
        if not AUDIO_ID.fullmatch(src.name):
            log.warning("example audio %s: name is not a valid audio id; skipped", src.name)
            continue
        if audio.exists(src.name):
            continue
        try:
            audio.register_file(src, src.name)
        except StreamerError as exc:
            log.warning("example audio %s skipped: %s", src.name, exc)
            continue
        added.append(f"audio/{src.name}")
    for src in sorted(examples_dir.glob("*.json")):
        if not TIMELINE_ID.fullmatch(src.stem) or timelines.exists(src.stem):
            continue
        try:
            timelines.create(loads(src.read_bytes()), src.stem, name=src.name)
        except (OSError, StreamerError) as exc:
            log.warning("example timeline %s skipped: %s", src.name, exc)
            continue
        added.append(f"timelines/{src.stem}")
    if added:
        log.info("seeded from %s: %s", examples_dir, ", ".join(added))
    return added
