"""Speech: offline text-to-speech with timings, and lip-sync tracks built from it (see each module for I/O).

Public API::

    synthesize(text, voice="en-us", rate_wpm=165, pitch=50) -> Speech    espeak-ng, in process
    to_wav_bytes(speech) -> bytes / to_ogg_bytes(speech) -> bytes         in-memory encoders
    speech_track(phonemes, visemes_map, min_hold_ms=60) -> list[dict]     v1 ``speech`` track (pure)
    timeline_for(speech, audio_id, visemes_map, emotion=None) -> dict     a full v1 timeline (pure)

Imports and exports of other tools' files (pure): :mod:`streamer.speech.imports` (TextGrid,
Rhubarb JSON/TSV, face_rig keyframes -> timelines), :mod:`streamer.speech.exports` (SRT,
WebVTT, Rhubarb, TextGrid), :mod:`streamer.speech.textgrid` and :mod:`streamer.speech.rhubarb`.

Errors: :class:`SpeechError` (a :class:`~streamer.core.errors.StreamerError`) when the engine
fails, and :class:`SpeechInputError` (also a ``ValueError``) for bad text, voice, rate or pitch.
External services (ElevenLabs, OpenAI: :mod:`streamer.speech.elevenlabs`,
:mod:`streamer.speech.openai_planner`, :mod:`streamer.speech.whisper`) add
:class:`ProviderUnavailable` (a ``SpeechInputError``: the key is not set) and
:class:`ProviderError` (a ``SpeechError``: the service failed; its message names the status).
"""

from streamer.speech.audio import to_ogg_bytes, to_wav_bytes
from streamer.speech.espeak import synthesize
from streamer.speech.model import (
    Phoneme,
    ProviderError,
    ProviderUnavailable,
    Speech,
    SpeechError,
    SpeechInputError,
    Word,
)
from streamer.speech.visemes import speech_track, timeline_for

__all__ = [
    "Phoneme",
    "ProviderError",
    "ProviderUnavailable",
    "Speech",
    "SpeechError",
    "SpeechInputError",
    "Word",
    "speech_track",
    "synthesize",
    "timeline_for",
    "to_ogg_bytes",
    "to_wav_bytes",
]
