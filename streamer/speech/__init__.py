"""Speech: offline text-to-speech with timings, and lip-sync tracks built from it (see each module for I/O).

Public API::

    synthesize(text, voice="en-us", rate_wpm=165, pitch=50) -> Speech    espeak-ng, in process
    to_wav_bytes(speech) -> bytes / to_ogg_bytes(speech) -> bytes         in-memory encoders
    speech_track(phonemes, visemes_map, min_hold_ms=60) -> list[dict]     v1 ``speech`` track (pure)
    timeline_for(speech, audio_id, visemes_map, emotion=None) -> dict     a full v1 timeline (pure)

Errors: :class:`SpeechError` (a :class:`~streamer.core.errors.StreamerError`) when the engine
fails, and :class:`SpeechInputError` (also a ``ValueError``) for bad text, voice, rate or pitch.
"""

from streamer.speech.audio import to_ogg_bytes, to_wav_bytes
from streamer.speech.espeak import synthesize
from streamer.speech.model import Phoneme, Speech, SpeechError, SpeechInputError, Word
from streamer.speech.visemes import speech_track, timeline_for

__all__ = [
    "Phoneme",
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
