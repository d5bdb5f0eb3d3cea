"""Word timings from OpenAI's Whisper (``whisper-1``, verbose JSON with word timestamps) (I/O: HTTPS).

For a recording with no transcript: Whisper transcribes it and times each word; espeak-ng
supplies the phonemes. The result is an :class:`~streamer.speech.model.Alignment` with
provider ``whisper``. Uploads take longer than chat calls, so the timeout is four times
``STREAMER_OPENAI_TIMEOUT_MS``. Blocking: run it off the event loop.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from streamer.settings import Settings
from streamer.speech.model import AlignedWord, Alignment
from streamer.speech.services.failures import malformed
from streamer.speech.services.openai_api import PROVIDER, openai_client, translate_error
from streamer.speech.synthesis.g2p import phonemes_for_words
from streamer.speech.timing import tidy_words
from streamer.speech.units import seconds_to_ms

WHISPER_MODEL = "whisper-1"
TIMEOUT_FACTOR = 4


def _seconds(value: Any, field: str) -> int:
    return seconds_to_ms(value, field, partial(malformed, PROVIDER))


def whisper_alignment(audio_bytes: bytes, filename: str, settings: Settings, g2p_voice: str = "en-us") -> Alignment:
    """The words Whisper hears in ``audio_bytes`` (named ``filename``), timed, with espeak phonemes.

    Whisper gives no per-word confidence: words get 1.0 and a warning says they are a
    transcription. Raises :class:`~streamer.speech.errors.ProviderUnavailable` without
    ``OPENAI_API_KEY`` and :class:`~streamer.speech.errors.ProviderError` when the call fails.
    """
    import openai

    timeout_s = TIMEOUT_FACTOR * settings.openai_timeout_ms / 1000
    with openai_client(settings, timeout_s=timeout_s) as client:
        try:
            result = client.audio.transcriptions.create(
                model=WHISPER_MODEL,
                file=(filename, audio_bytes),
                response_format="verbose_json",
                timestamp_granularities=["word"],
            )
        except (openai.OpenAIError, ValueError) as exc:
            raise translate_error(exc, timeout_s) from exc
    raw = getattr(result, "words", None)
    if not isinstance(raw, list):
        raise malformed(PROVIDER, "words: missing (was the request made with word timestamps?)")
    spans = []
    for i, item in enumerate(raw):
        word = getattr(item, "word", None)
        if not isinstance(word, str):
            raise malformed(PROVIDER, f"words[{i}].word: missing or not a string")
        if word.strip():
            spans.append(
                (
                    _seconds(getattr(item, "start", None), f"words[{i}].start"),
                    _seconds(getattr(item, "end", None), f"words[{i}].end"),
                    word.strip(),
                )
            )
    words = tidy_words(spans)
    duration = getattr(result, "duration", None)
    last_end = max((w.end_ms for w in words), default=0)
    duration_ms = max(_seconds(duration, "duration"), last_end) if duration is not None else last_end
    return Alignment(
        words=[AlignedWord(w.t_ms, w.end_ms, w.text, 1.0) for w in words],
        phonemes=phonemes_for_words(words, g2p_voice),
        duration_ms=duration_ms,
        provider="whisper",
        warnings=["whisper: the words are a transcription (no transcript was given); check them"],
    )
