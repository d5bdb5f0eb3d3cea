"""Which engine speaks a line: the speech providers by name (I/O edge: each provider does its own).

:data:`SPEECH_PROVIDERS` is the one table of text-to-speech engines: ``say`` looks the
``provider`` up in it, and the CLI's ``--provider`` choices are its names. A new engine is a
class with the :class:`SpeechProvider` methods (in a module of its own) and one line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from streamer.settings import Settings
from streamer.speech.errors import ProviderUnavailable, SpeechInputError
from streamer.speech.model import Speech


class SpeechProvider(Protocol):
    """A text-to-speech engine: text to audio with word and phoneme timings. Blocking."""

    def speak(self, text: str, voice: str | None, rate_wpm: int, pitch: int, settings: Settings | None) -> Speech:
        """``text`` spoken with ``voice`` (``None``: the engine's default).

        Raises :class:`SpeechInputError` for a bad voice, rate or pitch,
        :class:`ProviderUnavailable` when ``settings`` lack what the engine needs, and
        :class:`~streamer.speech.errors.SpeechError` (or its ``ProviderError``) when it fails.
        """
        ...

    def language(self, voice: str | None) -> str | None:
        """The language ``voice`` speaks, for the emotion rules' word lists (``None``: guess from the words)."""
        ...


class EspeakSpeechProvider:
    """``offline``: espeak-ng in process (``voice`` a language tag or voice name, default ``en-us``)."""

    def speak(self, text: str, voice: str | None, rate_wpm: int, pitch: int, settings: Settings | None) -> Speech:
        from streamer.speech.synthesis.espeak import synthesize

        return synthesize(text, voice=voice or "en-us", rate_wpm=rate_wpm, pitch=pitch)

    def language(self, voice: str | None) -> str | None:
        from streamer.speech.synthesis.voices import resolve_voice

        return resolve_voice(voice or "en-us")  # its identifier names the language: roa/es


class ElevenLabsSpeechProvider:
    """``elevenlabs``: ElevenLabs (``voice`` a voice id, default ``STREAMER_ELEVENLABS_VOICE``; no rate or pitch)."""

    def speak(self, text: str, voice: str | None, rate_wpm: int, pitch: int, settings: Settings | None) -> Speech:
        if settings is None or not settings.elevenlabs_api_key:
            raise ProviderUnavailable("provider: 'elevenlabs' needs ELEVENLABS_API_KEY, which is not set")
        from streamer.speech.services.elevenlabs import synthesize_elevenlabs

        return synthesize_elevenlabs(text, settings, voice)

    def language(self, voice: str | None) -> str | None:
        return None  # an ElevenLabs voice id does not tell


SPEECH_PROVIDERS: Mapping[str, SpeechProvider] = {
    "offline": EspeakSpeechProvider(),
    "elevenlabs": ElevenLabsSpeechProvider(),
}


def speech_provider(name: object) -> SpeechProvider:
    """The provider called ``name``; raises :class:`SpeechInputError` naming the field for an unknown one."""
    provider = SPEECH_PROVIDERS.get(name) if isinstance(name, str) else None
    if provider is None:
        available = ", ".join(SPEECH_PROVIDERS)
        raise SpeechInputError(f"provider: {str(name)[:40]!r} is not available (available: {available})")
    return provider
