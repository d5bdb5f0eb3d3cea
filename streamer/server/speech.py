"""REST routes for speech: ``POST /speech`` (text -> audio + timeline) and ``POST /emotions`` (I/O edge).

``POST /speech`` speaks the text offline (espeak-ng, off the event loop), stores the audio in
the audio store and the timeline in the timeline store, and answers
``{timeline_id, audio_id, duration_ms, timeline}``; play it with ``POST /channels/{c}/play``
``{"timeline_id": ...}``. ``POST /emotions`` plans an emotion track for timed words with the
offline rules or OpenAI. ``POST /align`` (multipart ``audio`` + optional ``transcript``) lip-syncs
a recording: the offline aligner places the transcript, or without one the mouth follows the
loudness (see docs/speech.md). Bad input is a 4xx whose message starts with the field's name.

``"provider": "elevenlabs"`` speaks through ElevenLabs (``voice`` is then a voice id); a
provider without its key is a 400 naming the key, a failing service a 502 (504 for a timeout,
503 with ``Retry-After`` when rate limited). Emotions come from OpenAI when configured
(``emotions``/``provider``: ``rules``, ``openai``, ``auto``); when OpenAI fails the rules
stand in and the answer says so: ``{"provider": "rules", "fallback": "openai: <reason>"}``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from streamer.core.emotions import analyze
from streamer.core.errors import TimelineError
from streamer.core.rig import Rig, not_emotions
from streamer.core.timeline import WordSpan
from streamer.rigset import pick
from streamer.server.errors import BodyError, SpeechBusy
from streamer.server.http import authorize_write, body_object, read_json
from streamer.server.state import state
from streamer.settings import Settings
from streamer.speech.errors import SpeechInputError
from streamer.speech.formats.audio import OPUS_COMPLEXITY
from streamer.speech.lipsync.visemes import MODES
from streamer.speech.say import MAX_SAY_CHARS, Said, say
from streamer.speech.services.openai_planner import choose_emotions
from streamer.storage import AudioStore, TimelineStore, short_name

log = logging.getLogger(__name__)

MAX_SPEECH_BODY_BYTES = 64 * 1024  # a /speech request is a line of text and a few options
MAX_EMOTION_WORDS = 20_000
MAX_EMOTION_BODY = 4 * 1024 * 1024
MAX_WORD_CHARS = 200
MAX_TRANSCRIPT_CHARS = 100_000
SPEECH_FIELDS = ("text", "voice", "rate_wpm", "pitch", "provider", "emotions", "lipsync", "rig")
EMOTIONS_FIELDS = ("words", "text", "provider")
# Speech work running at once, and waiting beyond that (more answers 429).
SPEECH_WORKERS, SPEECH_MAX_QUEUED = 4, 16
T = TypeVar("T")


class SpeechWorkers:
    """Runs blocking speech work (espeak-ng, the aligner, ElevenLabs and OpenAI calls) on its own threads.

    A service call can hold a thread for (1 + retries) x its timeout; on the event loop's
    shared executor a few of them would starve every other ``to_thread`` user (timeline and
    audio saves). At most ``workers`` run at once and ``max_queued`` wait; more is
    :class:`SpeechBusy`. Built in the app's lifespan (``ServerState.speech``).
    """

    def __init__(self, workers: int = SPEECH_WORKERS, max_queued: int = SPEECH_MAX_QUEUED) -> None:
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="speech")
        self.limit = workers + max_queued
        self.active = 0

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.active >= self.limit:
            raise SpeechBusy(f"too many speech requests at once ({self.active}, limit {self.limit}); try again shortly")
        self.active += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))
        finally:
            self.active -= 1

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _optional(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise SpeechInputError(f"{name}: must be an integer, got {str(value)[:40]!r}")
    if not isinstance(value, kind):
        raise SpeechInputError(f"{name}: must be a {kind.__name__}, got {str(value)[:40]!r}")
    return value


def _lipsync(mode: str) -> str:
    if mode not in MODES:
        raise SpeechInputError(f"lipsync: must be one of {', '.join(MODES)}, got {mode[:40]!r}")
    return mode


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _created(
    timelines: TimelineStore,
    timeline: dict[str, Any],
    audio_id: str,
    name: str | None = None,
    rig: Rig | None = None,
    **extra: Any,
) -> Response:
    """Store ``timeline`` (named ``name``, else by its ``name``) and answer 201 ``{timeline_id, ...}``.

    The answer is ``{timeline_id, audio_id, duration_ms, timeline, **extra}``. The timeline is
    checked against ``rig`` (default: the server's default rig).
    """
    timeline_id = await asyncio.to_thread(timelines.create, timeline, None, name, rig)
    body = {"timeline_id": timeline_id, "audio_id": audio_id, "duration_ms": timeline["duration_ms"]}
    return JSONResponse(
        {**body, "timeline": timeline, **extra}, status_code=201, headers={"Location": f"/timelines/{timeline_id}"}
    )


@dataclass(frozen=True)
class SayOptions:
    """How to speak: the options ``POST /speech`` and a channel's ``say`` share."""

    voice: str | None = None
    rate_wpm: int = 165
    pitch: int = 50
    provider: str = "offline"
    emotions: str = "auto"
    lipsync: str = MODES[0]

    @classmethod
    def parse(cls, body: dict[str, Any], settings: Settings) -> SayOptions:
        """The options in ``body`` (unknown fields are the caller's to refuse)."""
        return cls(
            voice=_optional(body, "voice", str, None),
            rate_wpm=_optional(body, "rate_wpm", int, 165),
            pitch=_optional(body, "pitch", int, 50),
            provider=_optional(body, "provider", str, "offline"),
            emotions=_optional(body, "emotions", str, settings.emotions),
            lipsync=_lipsync(_optional(body, "lipsync", str, MODES[0])),
        )

    async def speak(
        self, workers: SpeechWorkers, text: str, rig: Rig, settings: Settings, opus_complexity: int = OPUS_COMPLEXITY
    ) -> Said:
        """``text`` spoken with these options on the speech threads, its face planned for ``rig``."""
        return await workers.run(
            say,
            text,
            list(rig.config.expressions),
            rig.config.visemes,
            voice=self.voice,
            rate_wpm=self.rate_wpm,
            pitch=self.pitch,
            provider=self.provider,
            emotions=self.emotions,
            settings=settings,
            blink_eyes=rig.config.blink.eyes,
            opus_complexity=opus_complexity,
        )


async def store_said(audio_store: AudioStore, said: Said, settings: Settings) -> str:
    """Store the spoken audio; returns its audio id."""
    info = await audio_store.save_stream(
        _one_chunk(said.audio), "say.opus", max(settings.max_upload_bytes, len(said.audio))
    )
    return info.id


async def post_speech(request: Request) -> Response:
    authorize_write(request)
    body = body_object(await read_json(request, MAX_SPEECH_BODY_BYTES), SPEECH_FIELDS)
    text = body.get("text")
    if not isinstance(text, str):
        raise SpeechInputError("text: is required (a string)")
    server = state(request)
    settings = server.settings
    options = SayOptions.parse(body, settings)
    rig = pick(server.rigs, body.get("rig")).rig
    said = await options.speak(server.speech, text, rig, settings)
    audio_id = await store_said(server.audio, said, settings)
    timelines = server.timelines
    return await _created(
        timelines,
        said.timeline(audio_id, options.lipsync),
        audio_id,
        rig=rig,
        provider=said.provider,
        emotions=said.plan.to_json(),
    )


def parse_words(raw: object) -> list[WordSpan]:
    """``[{t_ms, end_ms, text}, ...]`` as word spans; raises :class:`TimelineError` naming the field."""
    if not isinstance(raw, list):
        raise TimelineError("words: must be a list of {t_ms, end_ms, text}")
    if len(raw) > MAX_EMOTION_WORDS:
        raise TimelineError(f"words: {len(raw)} words is over the limit of {MAX_EMOTION_WORDS}")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise TimelineError(f"words[{i}]: must be an object {{t_ms, end_ms, text}}")
        values = []
        for name in ("t_ms", "end_ms"):
            value = item.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3_600_000:
                raise TimelineError(f"words[{i}].{name}: must be an integer in [0, 3600000], got {str(value)[:40]!r}")
            values.append(value)
        text = item.get("text")
        if not isinstance(text, str) or len(text) > MAX_WORD_CHARS:
            raise TimelineError(f"words[{i}].text: must be a string of at most {MAX_WORD_CHARS} characters")
        out.append(WordSpan(values[0], values[1], text))
    return out


async def post_emotions(request: Request) -> Response:
    authorize_write(request)  # it may call OpenAI on the operator's key
    body = body_object(await read_json(request, MAX_EMOTION_BODY), EMOTIONS_FIELDS, "{words, text?, provider?}")
    words = parse_words(body.get("words"))
    text = body.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TRANSCRIPT_CHARS):
        raise TimelineError(f"text: must be a string of at most {MAX_TRANSCRIPT_CHARS} characters")
    server = state(request)
    rig, settings = server.rig, server.settings
    provider = _optional(body, "provider", str, settings.emotions)
    exclude = not_emotions(rig.config.visemes, rig.config.blink.eyes)

    def plan() -> dict[str, Any]:
        chosen = choose_emotions(words, list(rig.config.expressions), text, provider, settings, exclude=exclude)
        sentences = [
            {
                "first_word": s.first,
                "last_word": s.last,
                "emotion": s.emotion,
                "intensity": s.intensity,
                "cues": list(s.cues),
            }
            for s in analyze(words, text)
        ]
        return {"emotion": chosen.emotion, "sentences": sentences, **chosen.to_json()}

    return JSONResponse(await server.speech.run(plan))


ALIGN_FIELDS = ("audio", "transcript", "voice", "provider", "lipsync")
MAX_ALIGN_FIELD_BYTES = 256 * 1024  # a transcript sent as a file part


async def _form_text(value: Any, name: str) -> str | None:
    """A multipart field as text, whether sent as a plain field or as a (text) file part."""
    from starlette.datastructures import UploadFile

    if value is None or isinstance(value, str):
        return value
    if isinstance(value, UploadFile):
        data = await value.read(MAX_ALIGN_FIELD_BYTES + 1)
        if len(data) > MAX_ALIGN_FIELD_BYTES:
            raise SpeechInputError(f"{name}: over the limit of {MAX_ALIGN_FIELD_BYTES} bytes")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise SpeechInputError(f"{name}: must be UTF-8 text") from None
    raise SpeechInputError(f"{name}: must be text")


async def post_align(request: Request) -> Response:
    """``POST /align``: multipart ``audio`` (a recording) and ``transcript`` (optional) -> a stored timeline.

    With a transcript the offline aligner places its words; without one the mouth follows
    the loudness. ``provider`` (default ``offline``) may pick ``elevenlabs`` (forced
    alignment, needs the transcript), ``whisper`` (no transcript) or ``auto`` (a service when
    its key is set, the offline aligner if it fails). Answers 201 ``{timeline_id, audio_id,
    duration_ms, timeline, words, unplaced, confidence, provider, warnings}``.
    """
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    from streamer.server.http import MULTIPART_OVERHEAD, capped
    from streamer.speech.alignment.providers import align_with_provider, choose_aligner
    from streamer.speech.alignment.recording import alignment_timeline, check_transcript
    from streamer.speech.model import Alignment
    from streamer.storage import AudioError, PayloadTooLarge

    authorize_write(request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise SpeechInputError("audio: send multipart/form-data with the recording in an 'audio' file field")
    server = state(request)
    rig, settings, audio_store, timelines = server.rig, server.settings, server.audio, server.timelines
    limit = settings.max_upload_bytes
    stream = capped(request.stream(), limit + MULTIPART_OVERHEAD + MAX_ALIGN_FIELD_BYTES)
    parser = MultiPartParser(request.headers, stream, max_files=2, max_fields=8)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BodyError(f"request body: invalid multipart body: {exc.message}") from None
    try:
        body_object(dict(form), ALIGN_FIELDS)
        transcript = await _form_text(form.get("transcript"), "transcript")
        if transcript is not None:
            transcript = check_transcript(transcript)
        voice = await _form_text(form.get("voice"), "voice") or "en-us"
        provider = await _form_text(form.get("provider"), "provider") or "offline"
        lipsync = _lipsync(await _form_text(form.get("lipsync"), "lipsync") or MODES[0])
        choose_aligner(provider, transcript is not None, settings)  # before storing anything
        upload = form.get("audio")
        if not isinstance(upload, UploadFile):
            raise SpeechInputError("audio: is required (a file field with the recording)")

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await upload.read(256 * 1024):
                yield chunk

        try:
            upload_name = upload.filename
            info = await audio_store.save_stream(chunks(), upload_name, limit)
        except (AudioError, PayloadTooLarge) as exc:
            raise type(exc)(f"audio: {exc}") from None
    finally:
        await form.close()

    def work() -> tuple[Alignment, dict[str, Any]]:
        alignment = align_with_provider(
            info.path,
            transcript,
            provider=provider,
            settings=settings,
            filename=info.id,
            voice=voice,
            max_duration_ms=settings.max_audio_ms,
        )
        expressions = list(rig.config.expressions)
        timeline = alignment_timeline(alignment, info.id, expressions, rig.config.visemes, transcript, mode=lipsync)
        return alignment, timeline

    alignment, timeline = await server.speech.run(work)
    return await _created(
        timelines,
        timeline,
        info.id,
        name=short_name(upload_name) if upload_name else None,
        words=[
            {"t_ms": w.t_ms, "end_ms": w.end_ms, "text": w.text, "confidence": w.confidence} for w in alignment.words
        ],
        unplaced=alignment.unplaced,
        confidence=round(alignment.confidence, 3),
        provider=alignment.provider,
        warnings=alignment.warnings,
    )


def _voice_rows() -> list[dict[str, Any]]:
    from streamer.speech.synthesis.voices import voice_table

    return [
        {
            "voice": voice.identifier.rsplit("/", 1)[-1],
            "languages": [tag for _, tag in sorted(voice.languages)],
            "name": voice.name,
        }
        for voice in voice_table().voices
    ]


async def get_voices(request: Request) -> Response:
    """The offline (espeak-ng) voices, as ``streamer voices`` lists them."""
    return JSONResponse(await asyncio.to_thread(_voice_rows))


def speech_routes() -> list[BaseRoute]:
    """``POST /speech``, ``GET /speech/voices``, ``POST /emotions`` and ``POST /align``."""
    return [
        Route("/speech", post_speech, methods=["POST"]),
        Route("/speech/voices", get_voices, methods=["GET"]),
        Route("/emotions", post_emotions, methods=["POST"]),
        Route("/align", post_align, methods=["POST"]),
    ]


__all__ = ["MAX_SAY_CHARS", "parse_words", "speech_routes"]
