"""Which aligner places a recording's words: the aligners by name, and ``auto`` (I/O edge).

:data:`ALIGNERS` is the one table of aligners; ``POST /align`` and ``streamer align`` look
the ``provider`` up in it, and :data:`ALIGN_PROVIDERS` (its names and ``auto``) are the
CLI's choices. A new aligner is a class with the :class:`Aligner` methods (in a module of its
own) and one line in the table.

``offline`` is :func:`streamer.speech.alignment.recording.align_recording` (the offline
aligner with a transcript, the loudness mouth without one); ``elevenlabs`` needs a transcript
and ``ELEVENLABS_API_KEY``; ``whisper`` needs no transcript (it transcribes) and
``OPENAI_API_KEY``; ``auto`` picks the first service in the table that can take the request
(ElevenLabs with a transcript, Whisper without one, each only when its key is set), and the
offline aligner otherwise, or when the service fails (a warning in the alignment says so). An
explicitly chosen service that fails raises its :class:`~streamer.speech.errors.ProviderError`.
Callers check the audio first (the audio store and the CLI probe it). Blocking: run it off
the event loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from streamer.settings import Settings
from streamer.speech.alignment.recording import MAX_ALIGN_MS, align_recording
from streamer.speech.errors import ProviderError, ProviderUnavailable, SpeechInputError
from streamer.speech.model import Alignment
from streamer.storage import probe_audio

AudioSource = bytes | str | Path
# Whisper's accepted extensions include .ogg but not .opus (the audio store's name for Ogg/Opus).
_UPLOAD_SUFFIX = {".opus": ".ogg"}


class Aligner(Protocol):
    """Places words in a recording: a transcript's (when given) or its own. Blocking."""

    @property
    def label(self) -> str:
        """What the CLI says it used: "Whisper (no transcript)"."""
        ...

    @property
    def in_auto(self) -> bool:
        """Whether ``auto`` may pick it (a service, tried in table order before the offline aligner)."""
        ...

    def check(self, has_transcript: bool, settings: Settings | None) -> None:
        """Raise :class:`SpeechInputError` (naming the field) or :class:`ProviderUnavailable` if it cannot take this."""
        ...

    def align(
        self,
        source: AudioSource,
        transcript: str | None,
        settings: Settings | None,
        *,
        filename: str,
        voice: str,
        max_duration_ms: int,
    ) -> Alignment:
        """The alignment of ``source`` (a path or the file's bytes, named ``filename``); ``check`` passed."""
        ...


def _upload(source: AudioSource, filename: str) -> tuple[bytes, str]:
    """The bytes and file name a service is sent."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    name = Path(filename).name or "audio.wav"
    return data, str(Path(name).with_suffix(_UPLOAD_SUFFIX.get(Path(name).suffix.lower(), Path(name).suffix)))


def _needs_key(settings: Settings | None, field: str, provider: str, env: str) -> None:
    if settings is None or not getattr(settings, field):
        raise ProviderUnavailable(f"provider: '{provider}' needs {env}, which is not set")


class OfflineAligner:
    """``offline``: the offline aligner with a transcript, the loudness mouth without one."""

    label = "offline aligner"
    in_auto = False

    def check(self, has_transcript: bool, settings: Settings | None) -> None:
        pass

    def align(
        self,
        source: AudioSource,
        transcript: str | None,
        settings: Settings | None,
        *,
        filename: str,
        voice: str,
        max_duration_ms: int,
    ) -> Alignment:
        return align_recording(source, transcript, voice=voice, max_duration_ms=max_duration_ms)


class ElevenLabsAligner:
    """``elevenlabs``: ElevenLabs forced alignment of a transcript."""

    label = "ElevenLabs forced alignment"
    in_auto = True

    def check(self, has_transcript: bool, settings: Settings | None) -> None:
        if not has_transcript:
            raise SpeechInputError("transcript: is required for provider 'elevenlabs' (use 'whisper' without one)")
        _needs_key(settings, "elevenlabs_api_key", "elevenlabs", "ELEVENLABS_API_KEY")

    def align(
        self,
        source: AudioSource,
        transcript: str | None,
        settings: Settings | None,
        *,
        filename: str,
        voice: str,
        max_duration_ms: int,
    ) -> Alignment:
        from streamer.speech.services.elevenlabs import elevenlabs_forced_alignment

        assert transcript is not None and settings is not None
        data, name = _upload(source, filename)
        length = None if isinstance(source, bytes) else probe_audio(Path(source)).duration_ms
        return elevenlabs_forced_alignment(data, name, transcript, settings, g2p_voice=voice, duration_ms=length)


class WhisperAligner:
    """``whisper``: OpenAI's Whisper transcribes the recording and times its words."""

    label = "Whisper (no transcript)"
    in_auto = True

    def check(self, has_transcript: bool, settings: Settings | None) -> None:
        if has_transcript:
            raise SpeechInputError("transcript: provider 'whisper' transcribes the recording itself; leave it out")
        _needs_key(settings, "openai_api_key", "whisper", "OPENAI_API_KEY")

    def align(
        self,
        source: AudioSource,
        transcript: str | None,
        settings: Settings | None,
        *,
        filename: str,
        voice: str,
        max_duration_ms: int,
    ) -> Alignment:
        from streamer.speech.services.whisper import whisper_alignment

        assert settings is not None
        return whisper_alignment(*_upload(source, filename), settings, g2p_voice=voice)


ALIGNERS: Mapping[str, Aligner] = {
    "offline": OfflineAligner(),
    "elevenlabs": ElevenLabsAligner(),
    "whisper": WhisperAligner(),
}
ALIGN_PROVIDERS = (*ALIGNERS, "auto")


def choose_aligner(provider: str, has_transcript: bool, settings: Settings | None) -> str:
    """The aligner ``provider`` means here (``auto`` resolved); raises :class:`SpeechInputError` naming the field."""
    if provider == "auto":
        for name, aligner in ALIGNERS.items():
            if aligner.in_auto:
                try:
                    aligner.check(has_transcript, settings)
                except SpeechInputError:  # ProviderUnavailable included
                    continue
                return name
        return "offline"
    if provider not in ALIGNERS:
        raise SpeechInputError(f"provider: must be one of {', '.join(ALIGN_PROVIDERS)}, got {str(provider)[:40]!r}")
    ALIGNERS[provider].check(has_transcript, settings)
    return provider


def align_with_provider(
    source: AudioSource,
    transcript: str | None = None,
    *,
    provider: str = "offline",
    settings: Settings | None = None,
    filename: str = "audio.wav",
    voice: str = "en-us",
    max_duration_ms: int = MAX_ALIGN_MS,
) -> Alignment:
    """Align ``source`` (a path or the file's bytes, named ``filename`` for the services) with ``provider``.

    ``transcript`` comes checked (:func:`~streamer.speech.alignment.recording.check_transcript`,
    where it came in). ``voice`` is the espeak-ng voice of the offline aligner and of the
    phonemes read for a service's words. Raises :class:`SpeechInputError` for a bad provider,
    :class:`ProviderUnavailable` for a service without its key, :class:`ProviderError` when
    an explicitly chosen service fails, and what :func:`align_recording` raises.
    """
    chosen = choose_aligner(provider, transcript is not None, settings)
    try:
        return ALIGNERS[chosen].align(
            source, transcript, settings, filename=filename, voice=voice, max_duration_ms=max_duration_ms
        )
    except ProviderError as exc:
        if provider != "auto":
            raise
        offline = align_recording(source, transcript, voice=voice, max_duration_ms=max_duration_ms)
        return dataclasses.replace(offline, warnings=[*offline.warnings, f"{exc} (the offline aligner stood in)"])
