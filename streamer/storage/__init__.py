"""Stored timelines and uploaded audio under the data folder (I/O).

::

    data_dir/timelines/{id}.json    timeline documents as sent (v1 or face_rig), written atomically
    data_dir/timelines/{id}.meta.json   {"name"}: the timeline's human name (Say text, file name)
    data_dir/audio/{id}             audio files; uploads are named {content hash}.{ext}

With ``STREAMER_DATA_URL=s3://bucket/prefix`` the same layout lives in the bucket
(:mod:`streamer.storage.s3stores`, over :mod:`streamer.storage.s3data`); the folder then only
caches audio files.

Errors (all :class:`StreamerError`): :class:`InvalidKey` for a bad id, :class:`NotFound`,
:class:`TimelineError` for a document that does not validate, :class:`AlreadyExists`,
:class:`AudioError` for an upload that is not usable audio, :class:`PayloadTooLarge`,
:class:`StaleWrite` when a conditional replace names a version that is no longer stored.
"""

from __future__ import annotations

import builtins
import logging
from pathlib import Path

from streamer.core.errors import StreamerError
from streamer.core.timeline import loads
from streamer.storage.audio import AUDIO_ID, AudioInfo, AudioStore, probe_audio, validate_audio_id
from streamer.storage.errors import AlreadyExists, AudioError, PayloadTooLarge, StaleWrite
from streamer.storage.files import fsync_path, is_regular_file, remove_leftovers, write_atomic
from streamer.storage.timelines import (
    TIMELINE_ID,
    TimelineStore,
    clean_name,
    short_name,
    validate_timeline_id,
    version_of,
)

__all__ = [
    "AUDIO_ID",
    "TIMELINE_ID",
    "AlreadyExists",
    "AudioError",
    "AudioInfo",
    "AudioStore",
    "PayloadTooLarge",
    "StaleWrite",
    "TimelineStore",
    "clean_name",
    "fsync_path",
    "is_regular_file",
    "probe_audio",
    "remove_leftovers",
    "seed_examples",
    "short_name",
    "validate_audio_id",
    "validate_timeline_id",
    "version_of",
    "write_atomic",
]

log = logging.getLogger(__name__)

EXAMPLE_AUDIO_SUFFIXES = (".wav", ".ogg", ".mp3")


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
