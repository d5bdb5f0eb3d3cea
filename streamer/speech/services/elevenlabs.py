"""ElevenLabs through its official SDK: speech with character timings, and forced alignment (I/O: HTTPS).

Speech: ``POST /v1/text-to-speech/{voice_id}/with-timestamps`` answers base64 audio (MP3)
and per-character times; the audio is decoded with PyAV, characters are grouped into words,
and espeak-ng supplies each word's phonemes (:mod:`streamer.speech.synthesis.g2p`), so the result is
an ordinary :class:`~streamer.speech.model.Speech` for the lip-sync. Alignment:
``POST /v1/forced-alignment`` places a transcript's words in a recording, as an
:class:`~streamer.speech.model.Alignment` (provider ``elevenlabs``).

Every call has an explicit timeout (``STREAMER_ELEVENLABS_TIMEOUT_MS``) and retries 429 and
5xx answers (``STREAMER_ELEVENLABS_MAX_RETRIES``, honouring ``Retry-After``); a failure is a
:class:`~streamer.speech.errors.ProviderError` naming the status, a missing key
:class:`~streamer.speech.errors.ProviderUnavailable`. Blocking: run these off the event loop.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from streamer.settings import Settings
from streamer.speech.errors import ProviderError, ProviderUnavailable, SpeechError, SpeechInputError, TimingError
from streamer.speech.formats.pcm import decode_audio
from streamer.speech.model import LOW_CONFIDENCE, AlignedWord, Alignment, Speech
from streamer.speech.services.failures import malformed, status_error, timeout_error
from streamer.speech.synthesis.g2p import phonemes_for_words
from streamer.speech.timing import match_words, tidy_words, tokens, words_from_characters
from streamer.speech.units import samples_to_ms, seconds_to_ms

log = logging.getLogger(__name__)

PROVIDER = "elevenlabs"
KEY_NAME = "ELEVENLABS_API_KEY"
DEFAULT_BASE_URL = "https://api.elevenlabs.io"
OUTPUT_FORMAT = "mp3_44100_128"  # the service's default, available on every plan
_VOICE_ID = re.compile(r"[A-Za-z0-9]{1,64}")

T = TypeVar("T")


def check_voice_id(voice: str) -> str:
    """``voice`` if it looks like an ElevenLabs voice id; raises :class:`SpeechInputError` naming ``voice``."""
    if not isinstance(voice, str) or not _VOICE_ID.fullmatch(voice):
        raise SpeechInputError(f"voice: {str(voice)[:40]!r} is not an ElevenLabs voice id (letters and digits)")
    return voice


def _call(settings: Settings, request: Callable[[Any], T]) -> T:
    """``request(client)`` with a fresh SDK client on its own HTTP pool, errors translated once, here."""
    if not settings.elevenlabs_api_key:
        raise ProviderUnavailable(f"provider: 'elevenlabs' needs {KEY_NAME}, which is not set")
    import httpx
    from elevenlabs.client import ElevenLabs
    from elevenlabs.core.api_error import ApiError
    from elevenlabs.core.parse_error import ParsingError

    timeout_s = settings.elevenlabs_timeout_ms / 1000
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=True) as http:
            client = ElevenLabs(
                api_key=settings.elevenlabs_api_key,
                base_url=settings.elevenlabs_base_url or DEFAULT_BASE_URL,
                timeout=timeout_s,
                httpx_client=http,
            )
            return request(client)
    except ApiError as exc:
        raise status_error(PROVIDER, exc.status_code or 0, exc.headers, exc.body, KEY_NAME) from exc
    except ParsingError as exc:
        raise malformed(PROVIDER, f"the answer does not match the API ({exc.cause})") from exc
    except httpx.TimeoutException as exc:
        raise timeout_error(PROVIDER, timeout_s, "STREAMER_ELEVENLABS_TIMEOUT_MS") from exc
    except httpx.HTTPError as exc:
        raise ProviderError(PROVIDER, "unreachable", f"cannot reach the service: {exc}") from exc
    except ValueError as exc:  # a 2xx answer that is not JSON, or not the shape the SDK expects
        raise malformed(PROVIDER, str(exc)[:200]) from exc


def _options(settings: Settings) -> Any:
    return {"max_retries": settings.elevenlabs_max_retries}


def _get(obj: Any, name: str) -> Any:
    """A field of an SDK model or of a plain dict (the SDK keeps unexpected shapes as they came)."""
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _list(obj: Any, name: str, where: str) -> list[Any]:
    value = _get(obj, name)
    if not isinstance(value, list | tuple):
        raise malformed(PROVIDER, f"{where}.{name}: missing or not a list")
    return list(value)


def synthesize_elevenlabs(text: str, settings: Settings, voice: str | None = None, g2p_voice: str = "en-us") -> Speech:
    """Speak ``text`` with ElevenLabs (voice id ``voice``, default ``STREAMER_ELEVENLABS_VOICE``).

    Returns mono int16 samples at the service's rate, the words from its character timings and
    phonemes read by espeak-ng (``g2p_voice``) spread over each word. Raises
    :class:`ProviderUnavailable` without a key, :class:`SpeechInputError` for a bad voice id,
    and :class:`ProviderError` when the service fails or answers something unusable.
    """
    voice_id = check_voice_id(voice or settings.elevenlabs_voice)
    response = _call(
        settings,
        lambda client: client.text_to_speech.convert_with_timestamps(
            voice_id,
            text=text,
            model_id=settings.elevenlabs_model,
            output_format=OUTPUT_FORMAT,
            request_options=_options(settings),
        ),
    )
    return speech_from_response(response, text, g2p_voice)


def speech_from_response(response: Any, text: str, g2p_voice: str = "en-us") -> Speech:
    """A :class:`Speech` from a with-timestamps answer; raises :class:`ProviderError` (malformed) naming the field."""
    audio_b64 = _get(response, "audio_base_64") or _get(response, "audio_base64")
    if not isinstance(audio_b64, str) or not audio_b64:
        raise malformed(PROVIDER, "audio_base64: missing or empty")
    try:
        audio = base64.b64decode(audio_b64, validate=True)
    except (binascii.Error, ValueError):
        raise malformed(PROVIDER, "audio_base64: not base64") from None
    # The original text's characters give the words as written; the normalised ones (numbers
    # spelled out) are the fallback.
    name = "alignment" if _get(response, "alignment") is not None else "normalized_alignment"
    alignment = _get(response, name)
    if alignment is None:
        raise malformed(PROVIDER, "alignment: missing")
    try:
        words = words_from_characters(
            _list(alignment, "characters", name),
            _list(alignment, "character_start_times_seconds", name),
            _list(alignment, "character_end_times_seconds", name),
            name,
        )
    except TimingError as exc:
        raise malformed(PROVIDER, str(exc)) from None
    if not words:
        raise malformed(PROVIDER, f"{name}.characters: no words")
    try:
        samples, rate = decode_audio(audio, "audio_base64")
    except SpeechError as exc:
        raise malformed(PROVIDER, str(exc)) from None
    duration_ms = samples_to_ms(len(samples), rate)
    words = tidy_words([(min(w.t_ms, duration_ms), min(w.end_ms, duration_ms), w.text) for w in words])
    phonemes = phonemes_for_words(words, g2p_voice)
    return Speech(samples=samples, sample_rate=rate, words=words, phonemes=phonemes, text=text)


def confidence_from_loss(loss: float) -> float:
    """ElevenLabs' alignment loss (0 is a perfect fit) as a confidence in (0, 1]: ``1 / (1 + loss)``."""
    return 1.0 / (1.0 + loss) if math.isfinite(loss) and loss >= 0 else 0.0


def elevenlabs_forced_alignment(
    audio_bytes: bytes,
    filename: str,
    transcript: str,
    settings: Settings,
    g2p_voice: str = "en-us",
    duration_ms: int | None = None,
) -> Alignment:
    """Place ``transcript``'s words in the recording ``audio_bytes`` with ElevenLabs' forced alignment.

    Words get a confidence from their loss (:func:`confidence_from_loss`); transcript words the
    service did not return are listed in ``unplaced``; phonemes come from espeak-ng
    (``g2p_voice``). ``transcript`` comes checked
    (:func:`~streamer.speech.alignment.recording.check_transcript`). Raises like :func:`synthesize_elevenlabs`.
    """
    response = _call(
        settings,
        lambda client: client.forced_alignment.create(
            file=(filename, audio_bytes), text=transcript, request_options=_options(settings)
        ),
    )
    return alignment_from_response(response, transcript, g2p_voice, duration_ms)


def alignment_from_response(
    response: Any, transcript: str, g2p_voice: str = "en-us", duration_ms: int | None = None
) -> Alignment:
    """An :class:`Alignment` from a forced-alignment answer; raises :class:`ProviderError` (malformed).

    ``duration_ms`` is the recording's length (the caller probed it); without it, the last word's end.
    """
    spans: list[tuple[int, int, str]] = []
    losses: list[float] = []
    for i, item in enumerate(_list(response, "words", "response")):
        text, start, end, loss = (_get(item, k) for k in ("text", "start", "end", "loss"))
        if not isinstance(text, str):
            raise malformed(PROVIDER, f"words[{i}].text: missing or not a string")
        if not text.strip():
            continue  # a space between words
        start_ms = seconds_to_ms(start, f"words[{i}].start", partial(malformed, PROVIDER))
        end_ms = seconds_to_ms(end, f"words[{i}].end", partial(malformed, PROVIDER))
        spans.append((start_ms, end_ms, text.strip()))
        losses.append(float(loss) if isinstance(loss, int | float) and not isinstance(loss, bool) else math.inf)
    words = tidy_words(spans)
    warnings: list[str] = []
    last_ms = max((w.end_ms for w in words), default=0)
    duration_ms = max(duration_ms or 0, last_ms)
    aligned = [
        AlignedWord(w.t_ms, w.end_ms, w.text, round(confidence_from_loss(loss), 3))
        for w, loss in zip(words, losses, strict=True)
    ]
    script = transcript.split()
    placed = match_words(script, [w.text for w in words])
    unplaced = [word for word, owners in zip(script, placed, strict=True) if not owners and tokens(word)]
    mean = sum(w.confidence for w in aligned) / len(aligned) if aligned else 0.0
    if aligned and mean < LOW_CONFIDENCE:
        warnings.append(f"elevenlabs: low alignment confidence ({mean:.2f}); check the transcript")
    return Alignment(
        words=aligned,
        phonemes=phonemes_for_words(words, g2p_voice),
        duration_ms=duration_ms,
        provider=PROVIDER,
        unplaced=unplaced,
        warnings=warnings,
    )
