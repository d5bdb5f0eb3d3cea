"""An LLM bridge (I/O): a conversation whose answers are said on a channel as they are generated.

Each user line goes to an OpenAI chat completion (the official SDK, streamed); every piece of the
answer is sent to the channel at once as part of one ``say`` stream, so the character starts
talking after the first few words. The model is told it may put emotion tags (``[happy]``) in
its answer: the server takes them out of the speech and shows them on the face. A new user line
while an answer is still coming interrupts it (the stream is cancelled and the channel told to
``interrupt``). ``streamer chat`` reads the lines from standard input.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from streamer.core.errors import StreamerError
from streamer.settings import Settings
from streamer.speech.synthesis.segmenter import EMOTION_TAG

DEFAULT_PERSONA = (
    "You are a friendly, upbeat animated character talking live to viewers. Answer in one to three "
    "short spoken sentences, in the language you are spoken to, with no lists, code or links. You may "
    "put one emotion tag before a sentence to change your face: [happy], [excited], [surprised], "
    "[concerned] or [neutral]. Never say or explain the tags."
)
MAX_HISTORY = 20  # messages kept for context (the persona is always sent)

Send = Callable[[dict[str, Any]], Any]


def read_persona(path: str | None) -> str:
    if path is None:
        return DEFAULT_PERSONA
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise StreamerError(f"--persona {path}: cannot read it ({exc})") from None
    if not text:
        raise StreamerError(f"--persona {path}: the file is empty")
    return text


class ChatBridge:
    """A conversation with one model, said on one channel through ``send`` (a controller's messages)."""

    def __init__(
        self, client: Any, model: str, persona: str, send: Send, voice: str | None = None, out: Any = sys.stdout
    ) -> None:
        self.client, self.model, self.persona = client, model, persona
        self.send, self.voice, self.out = send, voice, out
        self.history: list[dict[str, str]] = []
        self.answers = 0
        self._answering: asyncio.Task[None] | None = None

    async def run(self, lines: AsyncIterator[str]) -> None:
        """Answer each line; a line that comes while an answer is being said interrupts it."""
        async for line in lines:
            line = line.strip()
            if not line:
                continue
            await self.interrupt()
            self._answering = asyncio.create_task(self.answer(line))
        if self._answering is not None:
            await self._answering

    async def interrupt(self) -> None:
        task, self._answering = self._answering, None
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.send({"type": "interrupt"})

    async def answer(self, line: str) -> None:
        """Stream the model's answer to ``line`` into the channel as one ``say`` stream."""
        self.answers += 1
        stream = f"chat-{self.answers}"
        self.history = [*self.history, {"role": "user", "content": line}][-MAX_HISTORY:]
        messages = [{"role": "system", "content": self.persona}, *self.history]
        options = {"voice": self.voice} if self.voice else {}
        said: list[str] = []
        try:
            completion = await self.client.chat.completions.create(model=self.model, messages=messages, stream=True)
            async for chunk in completion:
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if piece:
                    said.append(piece)
                    await self.send({"type": "say", "stream": stream, "text": piece, "final": False, **options})
                    self.out.write(EMOTION_TAG.sub("", piece))
                    self.out.flush()
            await self.send({"type": "say", "stream": stream, "text": "", "final": True, **options})
        finally:
            self.out.write("\n")
            if said:
                self.history.append({"role": "assistant", "content": "".join(said)})


def openai_client(settings: Settings) -> Any:
    """The official SDK's async client, from ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``."""
    if not settings.openai_api_key:
        raise StreamerError("chat needs OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server); set it first")
    from openai import AsyncOpenAI

    return AsyncOpenAI(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout_ms / 1000,
        max_retries=settings.openai_max_retries,
    )


async def stdin_lines() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        yield line


async def chat_on_channel(
    server: str, channel: str, settings: Settings, model: str, persona: str, voice: str | None
) -> int:
    """``streamer chat``: connect as the channel's controller and talk until standard input ends."""
    import websockets

    client = openai_client(settings)
    url = server.replace("http://", "ws://").replace("https://", "wss://") + f"/ws?channel={channel}&role=controller"
    try:
        ws = await websockets.connect(url)
    except (OSError, websockets.InvalidHandshake) as exc:
        raise StreamerError(f"{server}: cannot connect to the server ({exc})") from None
    async with ws:
        if settings.token:
            await ws.send(json.dumps({"type": "auth", "token": settings.token}))
        errors: list[str] = []

        async def listen() -> None:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "error":
                    errors.append(message["message"])
                    print(f"\nerror: {message['message']}", file=sys.stderr)

        listening = asyncio.create_task(listen())
        bridge = ChatBridge(client, model, persona, lambda m: ws.send(json.dumps(m)), voice)
        print(f"chatting on channel {channel!r} with {model}; type a line (Ctrl-D ends)", file=sys.stderr)
        await bridge.run(stdin_lines())
        await asyncio.sleep(0.2)  # the server's answers to the last messages
        listening.cancel()
    return 1 if errors else 0
