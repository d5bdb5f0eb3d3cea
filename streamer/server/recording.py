"""Storing a channel's recording (I/O): its aired audio mixed into one track, and its timeline.

The core :class:`~streamer.core.recording.Recording` says which frames aired and which audio
played from when to when. Here the audio files are decoded, each placed at its server time
from the recording's start (cut where it stopped airing), mixed into one Ogg/Opus track and
stored in the audio store; the timeline (a ``frames`` track, so it resolves to exactly what
aired) is stored in the timeline store with that track as its audio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np

from streamer.core.recording import Recording
from streamer.core.rig import Rig
from streamer.speech.formats.audio import OPUS_RATE, to_ogg_bytes
from streamer.speech.formats.pcm import load_pcm
from streamer.speech.model import Speech
from streamer.storage import AudioStore, TimelineStore

log = logging.getLogger(__name__)


def mix_aired(recording: Recording, files: list[Path | None], rate: int = OPUS_RATE) -> Speech | None:
    """One mono track of ``recording``'s audio (``files[i]`` holds ``recording.audio[i]``), or None.

    Each file plays from its start (before the recording began: from where it was then) until
    it stopped airing; overlaps add up. Blocking: decodes files.
    """
    total = recording.duration_ms * rate // 1000
    track = np.zeros(total, dtype=np.float32)
    mixed = 0
    for aired, path in zip(recording.audio, files, strict=True):
        if path is None:
            continue
        pcm = load_pcm(path, rate)
        begin_ms = max(aired.start_ms, recording.start_ms)
        skip = (begin_ms - aired.start_ms) * rate // 1000
        at = (begin_ms - recording.start_ms) * rate // 1000
        n = min((aired.until_ms - begin_ms) * rate // 1000, len(pcm) - skip, total - at)
        if n > 0:
            track[at : at + n] += pcm[skip : skip + n]
            mixed += 1
    if not mixed:
        return None
    samples = np.clip(np.round(track * 32767.0), -32768, 32767).astype(np.int16)
    return Speech(samples, rate)


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def store_recording(
    recording: Recording,
    *,
    rig: Rig,
    audio: AudioStore,
    timelines: TimelineStore,
    audio_id_of: Callable[[str], str | None],
    timeline_id: str | None,
    name: str,
) -> dict[str, Any]:
    """Mix and store the audio, store the timeline; returns ``{timeline_id, audio_id, ...}``."""
    ids = [audio_id_of(a.url) for a in recording.audio]
    # Blocking (with STREAMER_DATA_URL, a download from S3 on a cache miss): off the event loop.
    files = await asyncio.to_thread(lambda: [None if i is None or not audio.exists(i) else audio.path(i) for i in ids])
    speech = await asyncio.to_thread(mix_aired, recording, files)
    audio_id = None
    if speech is not None:
        data = await asyncio.to_thread(to_ogg_bytes, speech)
        audio_id = (await audio.save_stream(_one_chunk(data), "recording.opus", len(data))).id
    first = next((s for s in map(rig.state_of_key, (k for _, k in recording.changes)) if s is not None), None)
    start = (first.expr, first.pose) if first is not None else (rig.home_expression, rig.poses[0])
    document = {"name": name, **recording.timeline(start, audio_id)}
    stored_id = await asyncio.to_thread(timelines.create, document, timeline_id, name, rig)
    log.info("recorded %d ms as timeline %s (audio %s)", recording.duration_ms, stored_id, audio_id)
    return {
        "timeline_id": stored_id,
        "audio_id": audio_id,
        "start_ms": recording.start_ms,
        "end_ms": recording.end_ms,
        "duration_ms": recording.duration_ms,
        "frames": len(recording.changes),
        "events": len(recording.events),
        "ended_by": recording.ended_by,
    }
