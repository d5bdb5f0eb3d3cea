"""The long-lived services, built once from one :class:`Settings` for the server and the CLI (I/O).

:func:`open_services` is what the server's lifespan opens: the frame source (local folder or
S3, behind the viewers' cache and the exports' own), and the timeline and audio stores (seeded
from ``examples/``): in the data folder, or on S3 with ``STREAMER_DATA_URL``.
:func:`open_frames` is what a command that reads frames opens: the default
rig's frames only, from the folder it is given, else from S3 with ``USE_S3``, as the server
reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from streamer.core.rig import Rig
from streamer.server.framesource import FrameSource
from streamer.settings import Settings
from streamer.storage import AudioStore, TimelineStore, seed_examples
from streamer.storage.s3data import S3Data, data_options
from streamer.storage.s3stores import S3AudioStore, S3TimelineStore

if TYPE_CHECKING:
    from streamer.export.files import S3ExportFiles

SHARED_LEFTOVER_AGE_S = 3600


@dataclass(frozen=True)
class Services:
    """What every part of the server shares: the settings, the frames and the stores."""

    settings: Settings
    frames: FrameSource
    timelines: TimelineStore
    audio: AudioStore
    data: S3Data | None = None  # STREAMER_DATA_URL: the stores' and export files' bucket

    @property
    def export_files(self) -> S3ExportFiles | None:
        """Where finished export files go when the data is on S3 (None: the exports folder)."""
        if self.data is None:
            return None
        from streamer.export.files import S3ExportFiles

        return S3ExportFiles(self.data, self.settings.presign_expires_s)


def open_data(settings: Settings) -> S3Data | None:
    """The bucket of ``STREAMER_DATA_URL``, checked (blocking; :class:`S3SetupError`), or None when unset."""
    if settings.data_s3 is None:
        return None
    return S3Data(data_options(settings)).open()


def s3_audio_store(data: S3Data, settings: Settings) -> S3AudioStore:
    """The audio store on ``data``, cached in the data folder (the layout export specs name: ``audio/{id}``)."""
    folder, cache_bytes = settings.data_dir / "audio", settings.audio_cache_mb * 1024 * 1024
    return S3AudioStore(data, folder, max_duration_ms=settings.max_audio_ms, cache_bytes=cache_bytes)


def build_stores(settings: Settings, rig: Rig, data: S3Data | None = None) -> tuple[TimelineStore, AudioStore]:
    """The timeline and audio stores of ``settings.data_dir`` (or of ``data``), swept and seeded (blocking)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    audio: AudioStore
    timelines: TimelineStore
    if data is None:
        audio = AudioStore(settings.data_dir / "audio", max_duration_ms=settings.max_audio_ms)
        timelines = TimelineStore(settings.data_dir / "timelines", rig=rig, audio=audio)
    else:  # the data folder only caches audio files (same layout: export specs name "audio/{id}")
        audio = s3_audio_store(data, settings)
        timelines = S3TimelineStore(data, rig=rig, audio=audio)
    # Processes sharing the folder (REDIS_URL) may be writing: only leftovers older than any write.
    older_than_s = SHARED_LEFTOVER_AGE_S if settings.redis_url else 0
    timelines.sweep_leftovers(older_than_s)
    audio.sweep_leftovers(older_than_s)
    seed_examples(settings.examples_dir, timelines, audio)
    return timelines, audio


@contextlib.asynccontextmanager
async def open_services(settings: Settings, rig: Rig | None = None) -> AsyncIterator[Services]:
    """The services for ``settings`` (pass an already loaded ``rig`` to skip loading it again)."""
    frames = await FrameSource(settings, rig).open()
    data = None
    try:
        data = await asyncio.to_thread(open_data, settings)
        timelines, audio = await asyncio.to_thread(build_stores, settings, frames.rig, data)
        yield Services(settings, frames, timelines, audio, data)
    finally:
        if data is not None:
            await asyncio.to_thread(data.close)
        await frames.close()


@contextlib.asynccontextmanager
async def open_frames(settings: Settings, rig_dir: Path | None = None) -> AsyncIterator[FrameSource]:
    """The default rig and its frames for a command: ``rig_dir`` if given, else S3 with ``USE_S3``,
    else ``STREAMER_FRAMES_DIR`` (no other rigs, no viewer URLs)."""
    settings = dataclasses.replace(settings, rigs_dir=None, url_mode="server")
    if rig_dir is not None:
        settings = dataclasses.replace(settings, frames_dir=rig_dir, use_s3=False)
    frames = await FrameSource(settings).open()
    try:
        yield frames
    finally:
        await frames.close()
