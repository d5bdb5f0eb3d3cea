"""The offline "say" pipeline: text -> speech audio + a v1 timeline with lip-sync and emotions (I/O edge).

espeak-ng speaks the text (words and phonemes with exact times), the phonemes become the
``speech`` track through the rig's viseme map, and the offline emotion rules
(:mod:`streamer.core.emotions`) read the text for the ``emotion`` track. Blocking: run
:func:`say` off the event loop.

Public API::

    say(text, expressions, visemes_map, voice=..., rate_wpm=..., pitch=..., provider="offline",
        emotions="auto", settings=None) -> Said
    Said.timeline(audio_id) -> dict     the v1 timeline, playing the audio stored as ``audio_id``
    Said.audio                          Ogg/Opus bytes (``Said.audio_ext`` is "opus")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamer.core.rig import DEFAULT_BLINK_EYES, DEFAULT_VISEMES, not_emotions
from streamer.core.timeline import WordSpan
from streamer.settings import Settings
from streamer.speech.errors import SpeechInputError
from streamer.speech.formats.audio import OPUS_COMPLEXITY, to_ogg_bytes
from streamer.speech.lipsync.timelines import SPEECH_TAIL_MS, timeline_for
from streamer.speech.model import Speech
from streamer.speech.services.openai_planner import EmotionPlan, choose_emotions
from streamer.speech.synthesis.providers import speech_provider
from streamer.storage import short_name

MAX_SAY_CHARS = 1000


@dataclass(frozen=True, eq=False)
class Said:
    """A spoken line: its speech (audio and timings), encoded audio and emotion track."""

    speech: Speech
    audio: bytes
    emotion: list[dict[str, Any]]
    visemes_map: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_VISEMES))
    audio_ext: str = "opus"
    provider: str = "offline"
    plan: EmotionPlan = field(default_factory=EmotionPlan)
    text: str = ""

    @property
    def duration_ms(self) -> int:
        """The timeline's length: the audio's plus a short hold."""
        return self.speech.duration_ms + SPEECH_TAIL_MS

    def timeline(self, audio_id: str, mode: str = "phoneme") -> dict[str, Any]:
        """The v1 timeline for this line, with ``audio_id`` as its audio (validated).

        ``mode`` is the lip-sync: ``phoneme`` (every vowel) or ``word`` (one shape per word).
        """
        doc = timeline_for(self.speech, audio_id, self.visemes_map, emotion=self.emotion, mode=mode)
        return {"name": short_name(self.text), **doc} if self.text else doc


def check_text(text: object, limit: int = MAX_SAY_CHARS) -> str:
    """``text`` stripped, if it is a non-empty string of at most ``limit`` characters."""
    if not isinstance(text, str) or not text.strip():
        raise SpeechInputError("text: must be a non-empty string")
    if len(text) > limit:
        raise SpeechInputError(f"text: {len(text)} characters is over the limit of {limit}")
    return text.strip()


def say(
    text: str,
    expressions: Iterable[str],
    visemes_map: Mapping[str, str] = DEFAULT_VISEMES,
    *,
    voice: str | None = None,
    rate_wpm: int = 165,
    pitch: int = 50,
    provider: str = "offline",
    max_chars: int = MAX_SAY_CHARS,
    emotions: str = "auto",
    settings: Settings | None = None,
    blink_eyes: str = DEFAULT_BLINK_EYES,
    opus_complexity: int = OPUS_COMPLEXITY,
) -> Said:
    """Speak ``text`` and plan its face, using only the rig's ``expressions``.

    The face never uses the mouth shapes of ``visemes_map`` or the rig's blink (``blink_eyes``).

    ``provider`` names an engine of :data:`~streamer.speech.synthesis.providers.SPEECH_PROVIDERS`:
    ``offline`` (espeak-ng: ``voice`` default ``en-us``, ``rate_wpm`` and ``pitch``) or
    ``elevenlabs`` (``voice`` is a voice id, default ``STREAMER_ELEVENLABS_VOICE``; needs
    ``settings.elevenlabs_api_key``; rate and pitch are espeak's only). ``emotions`` is
    ``rules``, ``openai`` or ``auto`` (OpenAI when ``settings`` has its key); a failed OpenAI
    plan falls back to the rules and ``Said.plan.fallback`` says why. The rules read the text
    in the espeak voice's language (word lists for en, es, fr, de; punctuation and emoji for
    any other); with ElevenLabs they guess the language from the words. ``opus_complexity``
    is the Opus encoder's (live segments trade file size for time with a lower one).

    Raises :class:`SpeechInputError` (a ``ValueError``) naming the field for empty or oversized
    text, an unknown or unconfigured provider, a bad voice, or a rate or pitch out of range;
    :class:`~streamer.speech.errors.ProviderError` when ElevenLabs fails; and
    :class:`~streamer.speech.SpeechError` when espeak-ng or the encoder fails.
    """
    text = check_text(text, max_chars)
    if voice is not None and (not isinstance(voice, str) or not voice.strip()):
        raise SpeechInputError("voice: must not be empty (leave it out for the default voice)")
    engine = speech_provider(provider)
    speech = engine.speak(text, voice, rate_wpm, pitch, settings)
    language = engine.language(voice)
    if not speech.words or len(speech.samples) == 0:
        raise SpeechInputError("text: nothing to say (no speakable words)")
    words = [WordSpan(w.t_ms, w.end_ms, w.text) for w in speech.words]
    plan = choose_emotions(
        words,
        expressions,
        text,
        emotions,
        settings,
        exclude=not_emotions(visemes_map, blink_eyes),
        end_ms=speech.duration_ms + SPEECH_TAIL_MS,
        field_name="emotions",
        language=language,
    )
    return Said(
        speech=speech,
        audio=to_ogg_bytes(speech, complexity=opus_complexity),
        emotion=plan.emotion,
        visemes_map=dict(visemes_map),
        provider=provider,
        plan=plan,
        text=text,
    )
