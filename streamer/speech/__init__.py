"""Speech: offline text-to-speech with timings, and lip-sync tracks built from it (see each module for I/O).

Public API::

    synthesize(text, voice="en-us", rate_wpm=165, pitch=50) -> Speech    espeak-ng, in process
    to_wav_bytes(speech) -> bytes / to_ogg_bytes(speech) -> bytes         in-memory encoders
    speech_track(phonemes, visemes_map, min_hold_ms=60) -> list[dict]     v1 ``speech`` track (pure)
    timeline_for(speech, audio_id, visemes_map, emotion=None) -> dict     a full v1 timeline (pure)

Imports and exports of other tools' files (pure): :mod:`streamer.speech.imports` (TextGrid,
Rhubarb JSON/TSV, face_rig keyframes -> timelines), :mod:`streamer.speech.exports` (SRT,
WebVTT, Rhubarb, TextGrid), :mod:`streamer.speech.textgrid` and :mod:`streamer.speech.rhubarb`.

Recordings: :mod:`streamer.speech.recording` (decode, then the pure offline aligner
:mod:`streamer.speech.align`, or the loudness mouth) and :mod:`streamer.speech.align_providers`
(ElevenLabs forced alignment, Whisper).

Every error the speech modules raise on purpose is a :class:`~streamer.core.errors.StreamerError`
whose message starts with the offending field, line or provider::

    StreamerError
    ├── SpeechError                           espeak-ng or an encoder failed
    │   ├── SpeechInputError (ValueError)     bad text, transcript, voice, rate, pitch or provider
    │   │   └── ProviderUnavailable           a service was asked for but its API key is not set
    │   └── ProviderError                     ElevenLabs or OpenAI failed; ``reason`` and ``status`` say how
    ├── FormatError (ValueError)              an imported or exported file that cannot be read or written
    │   ├── TextGridError                     a Praat TextGrid (streamer.speech.textgrid)
    │   └── RhubarbError                      Rhubarb Lip Sync JSON or TSV (streamer.speech.imports)
    ├── TimingError (ValueError)              a service's character timings (streamer.speech.timing)
    ├── TimelineError (ValueError)            a timeline that does not validate, bad lip-sync options
    │   └── NothingToExport                   no words to caption or lip-sync to export (streamer.speech.exports)
    ├── PlanError (ValueError)                a model's emotion plan (streamer.core.emotion_plan)
    └── AudioError (ValueError)               a recording that is not audio or too long (streamer.storage)
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
