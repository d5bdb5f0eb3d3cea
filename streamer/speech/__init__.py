"""Speech: text-to-speech with timings, alignment of recordings, and lip-sync built from them.

Public API::

    synthesize(text, voice="en-us", rate_wpm=165, pitch=50) -> Speech    espeak-ng, in process
    to_wav_bytes(speech) -> bytes / to_ogg_bytes(speech) -> bytes         in-memory encoders
    speech_track(phonemes, visemes_map, min_hold_ms=60) -> list[dict]     v1 ``speech`` track (pure)
    timeline_for(speech, audio_id, visemes_map, emotion=None) -> dict     a full v1 timeline (pure)

The layout follows the pipeline (each module's docstring says whether it does I/O)::

    model.py, units.py, timing.py   values (Speech, Alignment, ...), time units, word timings
    errors.py                       every error the speech layer raises, drawn as one tree
    say.py                          text -> audio + a v1 timeline (the ``say`` pipeline)
    synthesis/                      text -> audio with timings: espeak-ng, voices, g2p, the
                                    segmenter, and the provider table (providers.py)
    alignment/                      a recording (+ transcript) -> word and phoneme times: the
                                    offline aligner (align, dtw, features), the loudness mouth,
                                    and the aligner table (providers.py)
    lipsync/                        phonemes -> mouth shapes -> v1 timelines: ARPAbet, visemes,
                                    Rhubarb's shapes
    formats/                        files in and out: audio encode/decode (audio, pcm),
                                    TextGrid, imports of other tools' files, captions
                                    (SRT, WebVTT, Rhubarb, TextGrid written from a timeline)
    services/                       hosted services over HTTPS: ElevenLabs, OpenAI (Whisper,
                                    emotion planning), and what their failures mean
"""

from streamer.speech.errors import ProviderError, ProviderUnavailable, SpeechError, SpeechInputError
from streamer.speech.formats.audio import to_ogg_bytes, to_wav_bytes
from streamer.speech.lipsync.timelines import timeline_for
from streamer.speech.lipsync.visemes import speech_track
from streamer.speech.model import Phoneme, Speech, Word
from streamer.speech.synthesis.espeak import synthesize

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
