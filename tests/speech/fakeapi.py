"""A small local server that speaks the ElevenLabs and OpenAI wire formats, for the official SDKs to call.

It runs under uvicorn on a free loopback port, records every request (path, headers, JSON
or multipart fields) and answers like the services: by default a plausible success, or what
a test scripted for the next calls to a route (a status, a raw body, headers, a delay).
The SDKs are pointed at it through their ``base_url``; nothing in them is patched.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from streamer.settings import Settings
from streamer.speech.formats.audio import encode_audio
from streamer.speech.model import Speech
from tests.server.conftest import LiveServer, MakeServer, ServerThread

ELEVEN_KEY = "test-eleven-key"
OPENAI_KEY = "test-openai-key"
CHAR_MS = 70  # how long the fake voice takes per character
WORD_MS = 400  # how long the fake aligners give each word


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)  # text fields as str, files as (filename, bytes)
    images: list[bytes] = field(default_factory=list)  # every image file sent (images.edit), in order


TOKEN_DELAY_S = 0.05  # a streamed chat completion's pace: 20 tokens a second


@dataclass
class Scripted:
    """The answer for one call: ``body`` a dict (JSON) or str (sent as it is, as JSON); ``None`` the default."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@lru_cache(maxsize=16)
def mp3_tone(duration_ms: int, rate: int = 44_100) -> bytes:
    """An MP3 of a quiet 220 Hz tone, like the audio ElevenLabs sends by default."""
    t = np.arange(rate * duration_ms // 1000) / rate
    samples = (8000 * np.sin(2 * math.pi * 220 * t)).astype(np.int16)
    return encode_audio(Speech(samples, rate), "mp3", "libmp3lame", rate, bit_rate=64_000)


def character_alignment(text: str) -> dict[str, Any]:
    """Every character of ``text`` timed at :data:`CHAR_MS` each, from 0.1 s."""
    starts = [round(0.1 + i * CHAR_MS / 1000, 3) for i in range(len(text))]
    return {
        "characters": list(text),
        "character_start_times_seconds": starts,
        "character_end_times_seconds": [round(s + CHAR_MS / 1000, 3) for s in starts],
    }


def tts_answer(text: str) -> dict[str, Any]:
    duration_ms = 100 + len(text) * CHAR_MS + 300
    alignment = character_alignment(text)
    return {
        "audio_base64": base64.b64encode(mp3_tone(duration_ms)).decode(),
        "alignment": alignment,
        "normalized_alignment": alignment,
    }


def timed_words(text: str) -> list[tuple[str, float, float]]:
    return [
        (w, round(0.2 + i * WORD_MS / 1000, 3), round(0.2 + (i + 0.8) * WORD_MS / 1000, 3))
        for i, w in enumerate(text.split())
    ]


def alignment_answer(text: str, loss: float = 0.1) -> dict[str, Any]:
    words = [{"text": w, "start": s, "end": e, "loss": loss} for w, s, e in timed_words(text)]
    characters = [{"text": ch, "start": 0.2, "end": 0.25} for ch in text]
    return {"characters": characters, "words": words, "loss": loss}


def chat_completion(
    content: str | None, finish_reason: str = "stop", refusal: str | None = None, model: str = "gpt-4o-mini"
) -> dict[str, Any]:
    """A chat completion as the API sends it, with one choice."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
    }


def default_plan(request: Any) -> dict[str, Any]:
    """The first non-neutral expression of the schema's enum at the last word (so rules would differ)."""
    schema = request["response_format"]["json_schema"]["schema"]
    names = schema["properties"]["changes"]["items"]["properties"]["expression"]["enum"]
    user = request["messages"][-1]["content"]
    count = len(re.findall(r"(?:^|\s)\d+=", user.split("Words:", 1)[1]))
    expr = next((n for n in names if n != "neutral"), "neutral")
    return {"changes": [{"word_index": max(0, count - 1), "expression": expr}]}


def transcription_answer(text: str = "hello there world") -> dict[str, Any]:
    words = [{"word": w, "start": s, "end": e} for w, s, e in timed_words(text)]
    return {
        "task": "transcribe",
        "language": "english",
        "duration": 0.2 + len(words) * WORD_MS / 1000 + 0.3,
        "text": text,
        "words": words,
        "segments": [],
    }


def image_answer(png: bytes) -> dict[str, Any]:
    """An images.edit answer carrying ``png``."""
    return {"created": 1_700_000_000, "data": [{"b64_json": base64.b64encode(png).decode()}]}


def edited_image(images: list[bytes], prompt: str) -> bytes:
    """What the fake image model makes: the inputs averaged, and a mark in the middle fifth whose
    colour depends on the prompt (as an expression changes only the face): the rest is unchanged."""
    from PIL import Image

    arrays = [np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"), np.float32) for data in images]
    out = np.mean(arrays, axis=0)
    h, w = out.shape[:2]
    digest = hashlib.sha256(prompt.encode()).digest()
    out[int(h * 0.4) : int(h * 0.5), int(w * 0.4) : int(w * 0.6)] = [digest[0], digest[1], digest[2], 255]
    buffer = io.BytesIO()
    Image.fromarray(out.astype(np.uint8), "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


class FakeAPI:
    """The fake services; ``elevenlabs_url`` and ``openai_url`` are the SDKs' base URLs."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.stopping = False
        self.scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self.app = Starlette(
            routes=[
                Route("/v1/text-to-speech/{voice_id}/with-timestamps", self.tts, methods=["POST"]),
                Route("/v1/forced-alignment", self.align, methods=["POST"]),
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/audio/transcriptions", self.transcribe, methods=["POST"]),
                Route("/v1/images/edits", self.image_edit, methods=["POST"]),
            ]
        )
        self.app.state.settings = Settings.from_env({})  # what the loopback server helper reads
        self.thread = ServerThread(self.app)

    def start(self) -> FakeAPI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping = True  # ends scripted delays, which the server would otherwise wait out
        self.thread.stop()

    @property
    def elevenlabs_url(self) -> str:
        return f"http://127.0.0.1:{self.thread.port}"

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.thread.port}/v1"

    def script(self, route: str, *answers: Scripted) -> None:
        """Answer the next calls to ``route`` (tts, align, chat, transcribe, images) with ``answers``, in order."""
        self.scripts[route].extend(answers)

    def calls(self, route_path: str) -> list[Recorded]:
        return [r for r in self.requests if route_path in r.path]

    async def _record(self, request: Request) -> Recorded:
        recorded = Recorded(request.method, request.url.path, {k.lower(): v for k, v in request.headers.items()})
        if request.headers.get("content-type", "").startswith("multipart/"):
            async with request.form() as form:
                for name, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        recorded.form[name] = (value.filename, await value.read())
                        if name.startswith("image"):
                            recorded.images.append(recorded.form[name][1])
                    else:
                        recorded.form[name] = value
        else:
            body = await request.body()
            recorded.json = json.loads(body) if body else None
        self.requests.append(recorded)
        return recorded

    async def _answer(self, route: str, recorded: Recorded, key_ok: bool, default: Any) -> Response:
        scripted = self.scripts[route].popleft() if self.scripts[route] else Scripted()
        until = time.monotonic() + scripted.delay_s
        while time.monotonic() < until and not self.stopping:
            await asyncio.sleep(min(0.05, until - time.monotonic()))
        if not key_ok:
            return JSONResponse({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}, 401)
        body = default() if scripted.body is None else scripted.body
        if isinstance(body, str):
            return Response(body, scripted.status, headers=scripted.headers, media_type="application/json")
        return JSONResponse(body, scripted.status, headers=scripted.headers)

    async def tts(self, request: Request) -> Response:
        recorded = await self._record(request)
        ok = recorded.headers.get("xi-api-key") == ELEVEN_KEY
        return await self._answer("tts", recorded, ok, lambda: tts_answer(recorded.json["text"]))

    async def align(self, request: Request) -> Response:
        recorded = await self._record(request)
        ok = recorded.headers.get("xi-api-key") == ELEVEN_KEY
        return await self._answer("align", recorded, ok, lambda: alignment_answer(recorded.form["text"]))

    async def chat(self, request: Request) -> Response:
        recorded = await self._record(request)
        ok = recorded.headers.get("authorization") == f"Bearer {OPENAI_KEY}"
        if ok and recorded.json and recorded.json.get("stream"):
            scripted = self.scripts["chat_stream"].popleft() if self.scripts["chat_stream"] else Scripted()
            text = scripted.body if isinstance(scripted.body, str) else "[happy] Hello there! It is great to see you."
            return StreamingResponse(
                self._chunks(text, scripted.delay_s or TOKEN_DELAY_S), media_type="text/event-stream"
            )
        return await self._answer(
            "chat", recorded, ok, lambda: chat_completion(json.dumps(default_plan(recorded.json)))
        )

    async def _chunks(self, text: str, delay_s: float) -> AsyncIterator[bytes]:
        """A streamed chat completion, as server-sent events: one token (a word) every ``delay_s``."""
        base = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "m"}
        tokens = re.findall(r"\S+\s*", text)
        for i, token in enumerate(tokens):
            if self.stopping:
                return
            delta = {"role": "assistant", "content": token} if i == 0 else {"content": token}
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            yield f"data: {json.dumps(chunk)}\n\n".encode()
            await asyncio.sleep(delay_s)
        end = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode()

    async def transcribe(self, request: Request) -> Response:
        recorded = await self._record(request)
        ok = recorded.headers.get("authorization") == f"Bearer {OPENAI_KEY}"
        return await self._answer("transcribe", recorded, ok, transcription_answer)

    async def image_edit(self, request: Request) -> Response:
        recorded = await self._record(request)
        ok = recorded.headers.get("authorization") == f"Bearer {OPENAI_KEY}"
        return await self._answer(
            "images", recorded, ok, lambda: image_answer(edited_image(recorded.images, recorded.form["prompt"]))
        )


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeAPI]:
    """One fake server per test module; each test starts with no scripts and no recorded requests."""
    api = FakeAPI().start()
    yield api
    api.stop()


@pytest.fixture
def fake(fake_api: FakeAPI) -> FakeAPI:
    fake_api.requests.clear()
    fake_api.scripts.clear()
    return fake_api


def _pointed_at(fake: FakeAPI, **overrides: Any) -> dict[str, Any]:
    """The settings fields that set both keys and point both services at ``fake``, then ``overrides``."""
    return {
        "elevenlabs_api_key": ELEVEN_KEY,
        "elevenlabs_base_url": fake.elevenlabs_url,
        "elevenlabs_max_retries": 0,
        "elevenlabs_timeout_ms": 5000,
        "openai_api_key": OPENAI_KEY,
        "openai_base_url": fake.openai_url,
        "openai_max_retries": 0,
        "openai_timeout_ms": 5000,
        **overrides,
    }


def settings_for(fake: FakeAPI, **overrides: Any) -> Settings:
    """Settings with both keys set and both services pointed at ``fake``; no retries unless asked."""
    return Settings.from_env({}).replace(**_pointed_at(fake, **overrides))


def server_for(make_server: MakeServer, fake: FakeAPI, **overrides: Any) -> LiveServer:
    """A live app whose settings are :func:`settings_for` ``fake`` (with ``overrides``)."""
    return make_server(**_pointed_at(fake, **overrides))
