"""Whole v1 timelines for speech: audio, words, the lip-sync track and an emotion track (pure, no I/O).

:func:`timeline_for` (synthesized speech) and :func:`alignment_timeline` (a recording's
alignment, emotions planned by the offline rules); both, and the Rhubarb import, are built by
:func:`speech_timeline`. The ``speech`` track itself comes from
:func:`streamer.speech.lipsync.visemes.speech_track`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from streamer.core.emotions import plan_emotions
from streamer.core.rig import DEFAULT_VISEMES
from streamer.core.timeline import WordSpan, parse_timeline
from streamer.speech.lipsync.visemes import ANTICIPATION_MS, NEUTRAL, speech_track
from streamer.speech.model import AlignedWord, Alignment, Speech, Word

SPEECH_TAIL_MS = 500  # how long a speech timeline holds after its audio ends


def default_emotion(speech: Speech, expr: str = "happy_soft", transition_ms: int = 400) -> list[dict[str, Any]]:
    """``expr`` from the start, relaxing to ``neutral`` shortly after the last word."""
    last_ms = max([w.end_ms for w in speech.words] + [0]) or speech.duration_ms
    relax_ms = min(last_ms + 250, speech.duration_ms + SPEECH_TAIL_MS - 1)
    track = [{"t_ms": 0, "expr": expr, "transition_ms": transition_ms}]
    if relax_ms > 0:
        track.append({"t_ms": relax_ms, "expr": NEUTRAL, "transition_ms": transition_ms})
    return track


def timeline_for(
    speech: Speech,
    audio_id: str,
    visemes_map: Mapping[str, str] = DEFAULT_VISEMES,
    emotion: Sequence[Mapping[str, Any]] | None = None,
    *,
    pose: Sequence[Mapping[str, Any]] = (),
    min_hold_ms: int = 60,
    seed: int = 7,
    anticipation_ms: int = ANTICIPATION_MS,
    mode: str = "phoneme",
) -> dict[str, Any]:
    """A v1 timeline playing ``speech`` (registered as audio ``audio_id``) with lip-sync.

    ``emotion`` is the emotion track (default :func:`default_emotion`); ``pose`` an optional
    pose track; ``anticipation_ms`` and ``mode`` go to :func:`speech_track`. ``duration_ms`` is
    the audio's length plus half a second; ``meta.text`` keeps the spoken text (captions take
    their punctuation from it). The result is checked with
    :func:`~streamer.core.timeline.parse_timeline`; raises ``TimelineError`` if invalid (for
    example a bad ``audio_id``).
    """
    words = _spans(speech.words)
    track = speech_track(
        speech.phonemes, visemes_map, min_hold_ms, anticipation_ms=anticipation_ms, mode=mode, words=words or None
    )
    emotion = default_emotion(speech) if emotion is None else emotion
    return speech_timeline(words, track, speech.duration_ms, audio_id, emotion, pose=pose, text=speech.text, seed=seed)


def alignment_timeline(
    alignment: Alignment,
    audio_id: str | None,
    expressions: Iterable[str],
    visemes_map: Mapping[str, str] = DEFAULT_VISEMES,
    transcript: str | None = None,
    *,
    anticipation_ms: int = ANTICIPATION_MS,
    mode: str = "phoneme",
) -> dict[str, Any]:
    """The v1 timeline playing audio ``audio_id`` with ``alignment``'s lip-sync, words and planned emotions.

    The emotion track comes from the offline rules reading the placed words and the
    ``transcript`` (only the rig's ``expressions`` are used); with no words the face stays
    neutral. Raises ``TimelineError`` if the result does not validate (a bad ``audio_id``).
    """
    words = _spans(alignment.words)
    track = speech_track(
        alignment.phonemes, visemes_map, anticipation_ms=anticipation_ms, mode=mode, words=words or None
    )
    emotion = (
        plan_emotions(words, expressions, transcript, end_ms=alignment.duration_ms + SPEECH_TAIL_MS) if words else []
    )
    return speech_timeline(words, track, alignment.duration_ms, audio_id, emotion, text=transcript)


def _spans(words: Sequence[Word | AlignedWord]) -> list[WordSpan]:
    return [WordSpan(w.t_ms, w.end_ms, w.text[:500]) for w in words]


def speech_timeline(
    words: Sequence[WordSpan],
    speech: Sequence[Mapping[str, Any]],
    duration_ms: int,
    audio_id: str | None,
    emotion: Sequence[Mapping[str, Any]] = (),
    *,
    pose: Sequence[Mapping[str, Any]] = (),
    text: str | None = None,
    seed: int = 7,
) -> dict[str, Any]:
    """The v1 timeline of a ready-made ``speech`` track, ``words`` and ``emotion``, checked.

    Every speech timeline is built here (from phonemes above, from Rhubarb cues in
    :mod:`streamer.speech.formats.imports`): it starts ``neutral`` at ``center``, blinks, lasts
    ``duration_ms`` plus :data:`SPEECH_TAIL_MS`, plays ``audio_id`` (none when ``None``) and keeps
    ``text`` as ``meta.text``. Raises ``TimelineError`` if the result does not validate.
    """
    doc: dict[str, Any] = {
        "version": 1,
        "start": {"expr": NEUTRAL, "pose": "center"},
        "tracks": {
            "emotion": [dict(k) for k in emotion],
            "speech": [dict(c) for c in speech],
            "words": [{"t_ms": w.t_ms, "end_ms": w.end_ms, "text": w.text} for w in words],
        },
        "idle": {"blink": True, "seed": seed},
        "duration_ms": duration_ms + SPEECH_TAIL_MS,
    }
    if audio_id is not None:
        doc["audio"] = {"id": audio_id, "offset_ms": 0}
    if text:
        doc["meta"] = {"text": text}
    if pose:
        doc["tracks"]["pose"] = [dict(k) for k in pose]
    parse_timeline(doc)
    return doc
