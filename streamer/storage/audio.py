"""Uploaded audio under ``data_dir/audio``: content-addressed files, probed with PyAV (I/O)."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamer.core.errors import InvalidKey, NotFound
from streamer.storage.errors import AudioError, PayloadTooLarge
from streamer.storage.files import flush_to_disk, fsync_dir, is_regular_file, remove_leftovers

log = logging.getLogger("streamer.storage")

AUDIO_EXTENSIONS = ("wav", "ogg", "mp3", "m4a", "opus", "flac")
AUDIO_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\.(?:" + "|".join(AUDIO_EXTENSIONS) + ")")
_WRITE_CHUNK = 1024 * 1024


def validate_audio_id(audio_id: object) -> str:
    """Return ``audio_id`` if it is ``name.ext`` with a known audio extension, else raise :class:`InvalidKey`."""
    if not isinstance(audio_id, str) or not AUDIO_ID.fullmatch(audio_id):
        extensions = ", .".join(AUDIO_EXTENSIONS)
        raise InvalidKey(f"audio id {str(audio_id)[:80]!r} must be a name of [A-Za-z0-9_-] and one of .{extensions}")
    return audio_id


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
            fsync_dir(self.root)
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
                await asyncio.to_thread(flush_to_disk, fh, b"".join(pending))
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
        fsync_dir(self.root)
        info = AudioInfo(audio_id, final, probe.duration_ms, probe.content_type)
        self._info[audio_id] = info
        return info
