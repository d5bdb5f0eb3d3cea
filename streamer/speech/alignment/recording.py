"""A recording (and its transcript, if any) to an alignment and a v1 timeline (I/O edge: decodes audio, runs espeak).

With a transcript the offline aligner places its words (:mod:`streamer.speech.alignment.align`, pure:
this module decodes the recording and has espeak-ng read the transcript for it); without one,
or when not one word could be placed, the mouth follows the loudness
(:mod:`streamer.speech.alignment.loudness`) and a warning says so. The timeline gets the lip-sync from
the alignment's phonemes and an emotion track from the offline rules reading the transcript,
as ``say`` does. Blocking (decoding and CPU work): run it off the event loop.

A transcript is checked once, where it comes in (the CLI, ``POST /align``), by
:func:`check_transcript`; every aligner after that takes the checked string.

Public API::

    check_transcript(transcript) -> str
    align_recording(source, transcript=None, voice="en-us", max_duration_ms=...) -> Alignment
    align_samples(samples, transcript, voice="en-us") -> Alignment     decoded mono float at RATE
    alignment_timeline(alignment, audio_id, expressions, visemes_map, transcript=None) -> dict
"""

from __future__ import annotations

from pathlib import Path

import numpy.typing as npt

from streamer.speech.alignment.align import REFERENCE_RATE_WPM, Reference, align, transcript_words
from streamer.speech.alignment.features import RATE
from streamer.speech.alignment.loudness import loudness_alignment
from streamer.speech.errors import SpeechInputError
from streamer.speech.formats.pcm import load_pcm, resample
from streamer.speech.lipsync.timelines import alignment_timeline
from streamer.speech.model import Alignment
from streamer.speech.synthesis.espeak import MAX_TEXT_CHARS, synthesize

MAX_ALIGN_MS = 600_000  # the default cap on a recording's length (STREAMER_MAX_AUDIO_S)
MAX_TRANSCRIPT_CHARS = MAX_TEXT_CHARS  # espeak-ng reads it in one go


def check_transcript(transcript: object) -> str:
    """``transcript`` stripped, if it is a non-empty string within the limit that has a word.

    Raises :class:`SpeechInputError` naming ``transcript`` otherwise. The one check of a
    transcript: callers run it where the transcript comes in, and pass on what it returns.
    """
    if not isinstance(transcript, str) or not transcript.strip():
        raise SpeechInputError("transcript: is empty (give the words spoken, or none for the loudness mouth)")
    if len(transcript) > MAX_TRANSCRIPT_CHARS:
        raise SpeechInputError(f"transcript: {len(transcript)} characters is over the limit of {MAX_TRANSCRIPT_CHARS}")
    if not transcript_words(transcript):
        raise SpeechInputError("transcript: has no words (letters or digits)")
    return transcript.strip()


def read_reference(transcript: str, voice: str = "en-us") -> Reference:
    """espeak-ng's reading of ``transcript`` for the aligner, resampled to :data:`RATE`.

    Raises :class:`SpeechInputError` for an unknown voice and
    :class:`~streamer.speech.errors.SpeechError` if espeak-ng fails.
    """
    speech = synthesize(transcript, voice=voice, rate_wpm=REFERENCE_RATE_WPM)
    return Reference(resample(speech.samples, speech.sample_rate), speech.words, speech.phonemes)


def align_samples(samples: npt.ArrayLike, transcript: str, voice: str = "en-us") -> Alignment:
    """The offline aligner on decoded ``samples`` (mono float at :data:`RATE`) and a checked ``transcript``.

    Raises like :func:`read_reference` and :func:`~streamer.speech.alignment.align.align`.
    """
    return align(samples, transcript, read_reference(transcript, voice))


def align_recording(
    source: bytes | str | Path,
    transcript: str | None = None,
    *,
    voice: str = "en-us",
    max_duration_ms: int = MAX_ALIGN_MS,
) -> Alignment:
    """Decode ``source`` (a path or the file's bytes) and align the checked ``transcript``, or animate by loudness.

    Raises :class:`~streamer.storage.AudioError` when ``source`` is not audio or is longer
    than ``max_duration_ms``, :class:`SpeechInputError` for an unknown voice or a transcript
    with nothing speakable, :class:`~streamer.speech.errors.SpeechError` if espeak-ng fails.
    """
    samples = load_pcm(source, RATE, max_duration_ms)
    if transcript is None:
        return loudness_alignment(samples)
    alignment = align_samples(samples, transcript, voice)
    if alignment.words:
        return alignment
    fallback = loudness_alignment(samples)
    warnings = [*alignment.warnings, "not one transcript word could be placed: the mouth follows the loudness instead"]
    return Alignment([], fallback.phonemes, fallback.duration_ms, "loudness", alignment.unplaced, warnings)


__all__ = [
    "MAX_ALIGN_MS",
    "MAX_TRANSCRIPT_CHARS",
    "align_recording",
    "align_samples",
    "alignment_timeline",
    "check_transcript",
    "read_reference",
]
