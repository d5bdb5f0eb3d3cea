"""REST routes for speech: ``POST /speech`` (text -> audio + timeline) and ``POST /emotions`` (I/O edge).

``POST /speech`` speaks the text offline (espeak-ng, off the event loop), stores the audio in
the audio store and the timeline in the timeline store, and answers
``{timeline_id, audio_id, duration_ms, timeline}``; play it with ``POST /channels/{c}/play``
``{"timeline_id": ...}``. ``POST /emotions`` plans an emotion track for timed words with the
offline rules. Bad input is a 4xx whose message starts with the field's name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from streamer.core.emotions import analyze, plan_emotions
from streamer.core.errors import TimelineError
from streamer.core.rig import Rig
from streamer.core.timeline import WordSpan
from streamer.server.http import authorize_write, read_json
from streamer.settings import Settings
from streamer.speech.model import SpeechError, SpeechInputError
from streamer.speech.say import MAX_SAY_CHARS, say
from streamer.storage import AudioStore, TimelineStore

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 64 * 1024
MAX_EMOTION_WORDS = 20_000
MAX_EMOTION_BODY = 4 * 1024 * 1024
MAX_WORD_CHARS = 200
MAX_TRANSCRIPT_CHARS = 100_000
SPEECH_FIELDS = ("text", "voice", "rate_wpm", "pitch", "provider")


def _object(body: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SpeechInputError("request body: must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise SpeechInputError(f"{str(unknown[0])[:40]}: unknown field (known: {', '.join(allowed)})")
    return body


def _optional(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise SpeechInputError(f"{name}: must be an integer, got {str(value)[:40]!r}")
    if not isinstance(value, kind):
        raise SpeechInputError(f"{name}: must be a {kind.__name__}, got {str(value)[:40]!r}")
    return value


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def post_speech(request: Request) -> Response:
    authorize_write(request)
    body = _object(await read_json(request, MAX_JSON_BYTES), SPEECH_FIELDS)
    text = body.get("text")
    if not isinstance(text, str):
        raise SpeechInputError("text: is required (a string)")
    voice = _optional(body, "voice", str, "en-us")
    rate_wpm = _optional(body, "rate_wpm", int, 165)
    pitch = _optional(body, "pitch", int, 50)
    provider = _optional(body, "provider", str, "offline")
    rig = cast(Rig, request.app.state.rig)
    settings = cast(Settings, request.app.state.settings)
    audio_store = cast(AudioStore, request.app.state.audio)
    timelines = cast(TimelineStore, request.app.state.timelines)
    try:
        said = await asyncio.to_thread(
            say,
            text,
            list(rig.config.expressions),
            rig.config.visemes,
            voice=voice,
            rate_wpm=rate_wpm,
            pitch=pitch,
            provider=provider,
        )
    except SpeechInputError:
        raise
    except SpeechError as exc:
        log.error("speech synthesis failed: %s", exc)
        return JSONResponse({"error": f"speech engine failed: {exc}"}, status_code=503)
    info = await audio_store.save_stream(
        _one_chunk(said.audio), "say.opus", max(settings.max_upload_bytes, len(said.audio))
    )
    timeline = said.timeline(info.id)
    timeline_id = await asyncio.to_thread(timelines.create, timeline, None)
    return JSONResponse(
        {"timeline_id": timeline_id, "audio_id": info.id, "duration_ms": timeline["duration_ms"], "timeline": timeline},
        status_code=201,
        headers={"Location": f"/timelines/{timeline_id}"},
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
    body = await read_json(request, MAX_EMOTION_BODY)
    if not isinstance(body, dict):
        raise TimelineError("request body: must be a JSON object {words, text?}")
    unknown = sorted(set(body) - {"words", "text"})
    if unknown:
        raise TimelineError(f"{str(unknown[0])[:40]}: unknown field (known: words, text)")
    words = parse_words(body.get("words"))
    text = body.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TRANSCRIPT_CHARS):
        raise TimelineError(f"text: must be a string of at most {MAX_TRANSCRIPT_CHARS} characters")
    rig = cast(Rig, request.app.state.rig)

    def plan() -> dict[str, Any]:
        track = plan_emotions(words, list(rig.config.expressions), text)
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
        return {"emotion": track, "sentences": sentences, "provider": "rules"}

    return JSONResponse(await asyncio.to_thread(plan))


def speech_routes() -> list[BaseRoute]:
    """``POST /speech`` and ``POST /emotions``."""
    return [
        Route("/speech", post_speech, methods=["POST"]),
        Route("/emotions", post_emotions, methods=["POST"]),
    ]


__all__ = ["MAX_SAY_CHARS", "parse_words", "speech_routes"]
