"""A recording (and its transcript, if any) to an alignment and a v1 timeline (I/O edge: decodes audio, runs espeak).

With a transcript the offline aligner places its words (:mod:`streamer.speech.align`);
without one, or when not one word could be placed, the mouth follows the loudness
(:mod:`streamer.speech.loudness`) and a warning says so. The timeline gets the lip-sync from
the alignment's phonemes and an emotion track from the offline rules reading the transcript,
as ``say`` does. Blocking (decoding and CPU work): run it off the event loop.

Public API::

    align_recording(source, transcript=None, voice="en-us", max_duration_ms=...) -> Alignment
    alignment_timeline(alignment, audio_id, expressions, visemes_map, transcript=None) -> dict
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from streamer.core.emotions import plan_emotions
from streamer.core.rig import DEFAULT_VISEMES
from streamer.core.timeline import WordSpan
from streamer.speech.align import MAX_TRANSCRIPT_CHARS, align
from streamer.speech.features import RATE
from streamer.speech.loudness import loudness_alignment
from streamer.speech.model import Alignment, SpeechInputError
from streamer.speech.pcm import load_pcm
from streamer.speech.visemes import TAIL_MS, timeline_for_alignment

MAX_ALIGN_MS = 600_000  # the default cap on a recording's length (STREAMER_MAX_AUDIO_S)


def check_transcript(transcript: object) -> str:
    """``transcript`` stripped, if it is a non-empty string within the aligner's limit."""
    if not isinstance(transcript, str) or not transcript.strip():
        raise SpeechInputError("transcript: is empty (give the words spoken, or none for the loudness mouth)")
    if len(transcript) > MAX_TRANSCRIPT_CHARS:
        raise SpeechInputError(f"transcript: {len(transcript)} characters is over the limit of {MAX_TRANSCRIPT_CHARS}")
    return transcript.strip()


def align_recording(
    source: bytes | str | Path,
    transcript: str | None = None,
    *,
    voice: str = "en-us",
    max_duration_ms: int = MAX_ALIGN_MS,
) -> Alignment:
    """Decode ``source`` (a path or the file's bytes) and align ``transcript`` with it, or animate by loudness.

    Raises :class:`~streamer.storage.AudioError` when ``source`` is not audio or is longer
    than ``max_duration_ms``, :class:`SpeechInputError` for an empty or oversized transcript
    or an unknown voice, :class:`~streamer.speech.model.SpeechError` if espeak-ng fails.
    """
    if transcript is not None:
        transcript = check_transcript(transcript)
    samples = load_pcm(source, RATE, max_duration_ms)
    if transcript is None:
        return loudness_alignment(samples, RATE)
    alignment = align(samples, transcript, voice=voice)
    if alignment.words:
        return alignment
    fallback = loudness_alignment(samples, RATE)
    warnings = [*alignment.warnings, "not one transcript word could be placed: the mouth follows the loudness instead"]
    return Alignment([], fallback.phonemes, fallback.duration_ms, "loudness", alignment.unplaced, warnings)


def alignment_timeline(
    alignment: Alignment,
    audio_id: str,
    expressions: Iterable[str],
    visemes_map: Mapping[str, str] = DEFAULT_VISEMES,
    transcript: str | None = None,
) -> dict[str, Any]:
    """The v1 timeline playing audio ``audio_id`` with ``alignment``'s lip-sync and words.

    The emotion track comes from the offline rules reading the placed words and the
    transcript (only the rig's ``expressions`` are used); with no words the face stays
    neutral. Raises ``TimelineError`` if the result does not validate (a bad ``audio_id``).
    """
    emotion: list[dict[str, Any]] = []
    if alignment.words:
        words = [WordSpan(w.t_ms, w.end_ms, w.text) for w in alignment.words]
        emotion = plan_emotions(words, expressions, transcript, end_ms=alignment.duration_ms + TAIL_MS)
    return timeline_for_alignment(alignment, audio_id, visemes_map, emotion, text=transcript)
