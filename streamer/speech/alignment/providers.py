"""Which aligner places a recording's words: offline, ElevenLabs forced alignment or Whisper (I/O edge).

``offline`` is :func:`streamer.speech.alignment.recording.align_recording` (the offline aligner with a
transcript, the loudness mouth without one); ``elevenlabs`` needs a transcript and
``ELEVENLABS_API_KEY``; ``whisper`` needs no transcript (it transcribes) and
``OPENAI_API_KEY``; ``auto`` picks ElevenLabs with a transcript, Whisper without one, each
only when its key is set, and the offline aligner otherwise, or when the service fails (a
warning in the alignment says so). An explicitly chosen service that fails raises its
:class:`~streamer.speech.errors.ProviderError`. Callers check the audio first (the audio
store and the CLI probe it). Blocking: run it off the event loop.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from streamer.settings import Settings
from streamer.speech.alignment.recording import MAX_ALIGN_MS, align_recording
from streamer.speech.errors import ProviderError, ProviderUnavailable, SpeechInputError
from streamer.speech.model import Alignment
from streamer.storage import probe_audio

ALIGN_PROVIDERS = ("offline", "elevenlabs", "whisper", "auto")
# Whisper's accepted extensions include .ogg but not .opus (the audio store's name for Ogg/Opus).
_UPLOAD_SUFFIX = {".opus": ".ogg"}


def choose_aligner(provider: str, has_transcript: bool, settings: Settings | None) -> str:
    """The aligner ``provider`` means here (``auto`` resolved); raises :class:`SpeechInputError` naming the field."""
    if provider not in ALIGN_PROVIDERS:
        raise SpeechInputError(f"provider: must be one of {', '.join(ALIGN_PROVIDERS)}, got {str(provider)[:40]!r}")
    eleven = settings is not None and bool(settings.elevenlabs_api_key)
    openai = settings is not None and bool(settings.openai_api_key)
    if provider == "auto":
        return ("elevenlabs" if eleven else "offline") if has_transcript else ("whisper" if openai else "offline")
    if provider == "elevenlabs" and not has_transcript:
        raise SpeechInputError("transcript: is required for provider 'elevenlabs' (use 'whisper' without one)")
    if provider == "whisper" and has_transcript:
        raise SpeechInputError("transcript: provider 'whisper' transcribes the recording itself; leave it out")
    if provider == "elevenlabs" and not eleven:
        raise ProviderUnavailable("provider: 'elevenlabs' needs ELEVENLABS_API_KEY, which is not set")
    if provider == "whisper" and not openai:
        raise ProviderUnavailable("provider: 'whisper' needs OPENAI_API_KEY, which is not set")
    return provider


def align_with_provider(
    source: bytes | str | Path,
    transcript: str | None = None,
    *,
    provider: str = "offline",
    settings: Settings | None = None,
    filename: str = "audio.wav",
    voice: str = "en-us",
    max_duration_ms: int = MAX_ALIGN_MS,
) -> Alignment:
    """Align ``source`` (a path or the file's bytes, named ``filename`` for the services) with ``provider``.

    ``transcript`` comes checked (:func:`~streamer.speech.alignment.recording.check_transcript`, where
    it came in). ``voice`` is the espeak-ng voice of the offline aligner and of the phonemes
    read for a service's words. Raises :class:`SpeechInputError` for a bad provider,
    :class:`ProviderUnavailable` for a service without its key, :class:`ProviderError` when
    an explicitly chosen service fails, and what :func:`align_recording` raises.
    """
    chosen = choose_aligner(provider, transcript is not None, settings)
    if chosen == "offline":
        return align_recording(source, transcript, voice=voice, max_duration_ms=max_duration_ms)
    assert settings is not None
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    name = Path(filename).name or "audio.wav"
    name = str(Path(name).with_suffix(_UPLOAD_SUFFIX.get(Path(name).suffix.lower(), Path(name).suffix)))
    try:
        if chosen == "elevenlabs":
            from streamer.speech.services.elevenlabs import elevenlabs_forced_alignment

            assert transcript is not None
            length = None if isinstance(source, bytes) else probe_audio(Path(source)).duration_ms
            return elevenlabs_forced_alignment(data, name, transcript, settings, g2p_voice=voice, duration_ms=length)
        from streamer.speech.services.whisper import whisper_alignment

        return whisper_alignment(data, name, settings, g2p_voice=voice)
    except ProviderError as exc:
        if provider != "auto":
            raise
        offline = align_recording(source, transcript, voice=voice, max_duration_ms=max_duration_ms)
        return dataclasses.replace(offline, warnings=[*offline.warnings, f"{exc} (the offline aligner stood in)"])
