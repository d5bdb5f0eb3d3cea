"""Fan-out (I/O): deliver one encoded message to every viewer of a channel.

:class:`Fanout` is the seam between a channel (which decides what to say) and the connections
that hear it. :class:`LocalFanout` delivers to this process's viewers: every message is encoded
and framed once per channel and the same bytes are written to every viewer; a viewer whose
transport pushes back gets a bounded queue and a writer task, and a viewer that cannot keep up
is closed (4008) without delaying anyone else. Another implementation (several processes sharing
channels through a broker) publishes the text once and delivers it in each process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable, Collection, Coroutine, Generator, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

log = logging.getLogger(__name__)

CLOSE_POLICY, CLOSE_RESTART = 1008, 1012
CLOSE_UNAUTHORIZED, CLOSE_BAD_CHANNEL, CLOSE_TOO_SLOW, CLOSE_FLOOD = 4001, 4002, 4008, 4029


def encode(message: dict[str, Any]) -> str:
    """A message as it goes on the wire (compact JSON)."""
    return json.dumps(message, separators=(",", ":"))


def ws_frame(text: str) -> bytes:
    """``text`` as one WebSocket text frame from a server (RFC 6455: final, unmasked, uncompressed)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 65536:
        head = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return head + payload


def ws_frames(texts: Iterable[str]) -> bytes:
    """``texts`` as WebSocket text frames back to back (:func:`ws_frame`), to be written at once."""
    return b"".join(ws_frame(text) for text in texts)


# Where RawSocketMiddleware leaves the server's connection object in a WebSocket's scope.
RAW_CONNECTION = "streamer.ws_connection"


class RawSocketMiddleware:
    """Notes, in each WebSocket's scope, the server connection behind its ASGI ``send``.

    uvicorn's ``send`` is a bound method of its connection (``WebSocketsSansIOProtocol``);
    :class:`Viewer` writes broadcasts straight to that connection's transport when it can
    (see :func:`direct_connection`). Must sit outside any middleware that wraps ``send``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope[RAW_CONNECTION] = getattr(send, "__self__", None)
        await self.app(scope, receive, send)


def direct_connection(ws: WebSocket) -> WebSocketsSansIOProtocol | None:
    """uvicorn's connection behind ``ws`` when broadcasts may be written to its transport, else None.

    A broadcast is the same text for every viewer: framed once (:func:`ws_frame`), it is the
    same bytes for all of them, and writing those bytes to the transport skips Starlette's,
    uvicorn's and websockets' per-message work (framing, state checks, a coroutine), which was
    a third of a broadcast's CPU, the rest being the ``send`` system call. This relies on
    uvicorn's ``websockets-sansio`` protocol (which ``server/run.py`` selects) and its
    attributes, checked here once per connection; with anything else (another server, a
    test client) every message takes the ASGI path.
    """
    conn = ws.scope.get(RAW_CONNECTION)
    if not isinstance(conn, WebSocketsSansIOProtocol):
        return None
    if not all(hasattr(conn, name) for name in ("transport", "writable", "close_sent", "disconnected", "conn")):
        return None
    return conn


class _Continue:
    """Awaits the rest of a coroutine that was stepped by hand and suspended on ``waiting``."""

    def __init__(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        self.coro, self.waiting = coro, waiting

    def __await__(self) -> Generator[Any, None, None]:
        coro, waiting = self.coro, self.waiting
        try:
            while True:
                yield waiting
                try:
                    waiting = coro.send(None)
                except StopIteration:
                    return
        finally:
            coro.close()


class Viewer:
    """One connection's outgoing messages.

    The common case writes at once: under uvicorn, the frame's bytes go straight to the
    transport (:func:`direct_connection`); otherwise the send coroutine is stepped by hand and,
    while the transport has room, finishes without suspending, so a broadcast costs no task
    switch per viewer (the way websockets' ``broadcast()`` writes). When the transport pushes back, the
    rest of that send and the messages after it go to a writer task through a bounded queue;
    a viewer whose queue overflows is closed with 4008 and never delays the others.
    """

    def __init__(self, ws: WebSocket, role: str, max_queue: int) -> None:
        self.ws, self.role = ws, role
        self.queue: deque[str] = deque()
        self.max_queue = max_queue
        self.closing = False
        self.close_code = 1000
        self.writer: asyncio.Task[None] | None = None  # only while the transport pushes back
        self.channel: str | None = None  # the channel it watches, once it exists
        self.rtt_ms = 0  # its round trip to us, as its pings report it
        self.waiting_for: str | None = None  # the channel it waits for, until a controller creates it
        self.watches: dict[str, asyncio.Task[None]] = {}  # export id -> task pushing its progress
        self.direct = direct_connection(ws)  # the uvicorn connection broadcasts are written to, if any

    def push(self, text: str) -> bool:
        """Send or queue ``text``; False (and start closing) when the viewer has fallen behind."""
        return self.push_all((text,))

    def push_all(self, texts: Sequence[str], framed: bytes | None = None) -> bool:
        """Send or queue ``texts`` in order, like :meth:`push`; written to the transport at once when it can be.

        ``framed`` is ``texts`` already framed back to back (:func:`ws_frames`), when the caller
        sends the same texts to many viewers. One write for them all: the ``send`` system call
        is most of a broadcast's cost, and a re-plan says two things (frames, then state).
        """
        if self.closing:
            return False
        direct = self.direct
        if (
            direct is not None
            and self.writer is None
            and direct.writable.is_set()
            and not direct.close_sent
            and not direct.disconnected
            and direct.conn.state is State.OPEN
        ):
            direct.transport.write(ws_frames(texts) if framed is None else framed)
            return True
        return all(self._push_one(text) for text in texts)

    def _push_one(self, text: str) -> bool:
        if self.writer is not None:
            if len(self.queue) >= self.max_queue:
                self.close(CLOSE_TOO_SLOW)
                return False
            self.queue.append(text)
            return True
        send = self.ws.send_text(text)
        try:
            waiting = send.send(None)
        except StopIteration:
            return True
        except Exception:  # noqa: BLE001 - a dead socket ends this viewer only
            self.closing = True
            return False
        self.writer = asyncio.ensure_future(self._write_rest(_Continue(send, waiting)))
        return True

    async def _write_rest(self, pending: _Continue) -> None:
        try:
            await pending
            while self.queue and not self.closing:
                await self.ws.send_text(self.queue.popleft())
        except Exception:  # noqa: BLE001
            self.closing = True
        finally:
            self.writer = None
            if self.closing:
                await self._close_socket()

    async def _close_socket(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(self.close_code), timeout=2)

    def close(self, code: int) -> None:
        if self.closing:
            return
        self.closing, self.close_code = True, code
        self.queue.clear()
        for task in self.watches.values():
            task.cancel()
        if self.writer is None:
            self.writer = asyncio.ensure_future(self._close_socket())
        # else the writer closes the socket once its send in flight ends

    async def finished(self, timeout: float) -> None:
        if self.writer is not None:
            await asyncio.wait([self.writer], timeout=timeout)


@dataclass(frozen=True)
class Audience:
    """Who a channel's messages reach: how many viewers, and the slowest one's round trip."""

    viewers: int
    max_rtt_ms: int


class Fanout(Protocol):
    """Delivers a channel's messages to its viewers, wherever they are connected."""

    def join(self, channel: str, viewer: Viewer) -> None:
        """Start delivering ``channel``'s messages to ``viewer`` (connected to this process)."""

    def leave(self, channel: str, viewer: Viewer) -> bool:
        """Stop delivering to ``viewer``; False when it was not a viewer of ``channel``."""

    def deliver(self, channel: str, texts: Sequence[str]) -> None:
        """Write encoded messages, in order, to every viewer of ``channel``."""

    def audience(self, channel: str) -> Audience:
        """The channel's audience, for sizing how far ahead re-plans start."""

    def drop(self, channel: str, code: int) -> None:
        """Close every viewer of ``channel`` with ``code`` (the channel is going away)."""


@dataclass
class Deliveries:
    """What this process wrote to its viewers since it started (``GET /metrics``), one count per viewer."""

    messages: int = 0  # channel messages (broadcasts)
    frames: int = 0  # frame changes in those messages
    late_frames: int = 0  # ... written after their presentation time (a stalled process, a slow hop)
    slow_viewers: int = 0  # viewers closed for falling behind (4008)

    def to_json(self) -> dict[str, int]:
        return asdict(self)


FRAMES_PREFIX = '{"type":"frames",'  # how a frames message starts on the wire (encode keeps the core's order)


class LocalFanout:
    """The viewers connected to this process, by channel, and what was written to them (:attr:`sent`).

    ``now_ms`` is the server clock. A frame counts as late when its time has passed once its
    message is written to every viewer here (so in a big audience, a frame that fell due during
    the writing counts late for all of them).
    """

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self._viewers: dict[str, set[Viewer]] = {}
        self._now_ms = now_ms
        self.sent = Deliveries()

    def join(self, channel: str, viewer: Viewer) -> None:
        self._viewers.setdefault(channel, set()).add(viewer)

    def leave(self, channel: str, viewer: Viewer) -> bool:
        viewers = self._viewers.get(channel)
        if viewers is None or viewer not in viewers:
            return False
        viewers.discard(viewer)
        if not viewers:
            del self._viewers[channel]
        return True

    def channels(self) -> list[str]:
        """The channels with viewers here."""
        return list(self._viewers)

    def viewers(self, channel: str) -> Iterable[Viewer]:
        return self._viewers.get(channel, ())

    def deliver(self, channel: str, texts: Sequence[str], skip: Collection[Viewer] = ()) -> None:
        viewers = self._viewers.get(channel)
        if not viewers or not texts:
            return
        framed = ws_frames(texts)
        written = 0
        for viewer in list(viewers):
            if viewer in skip:
                continue
            if viewer.push_all(texts, framed):
                written += 1
                continue
            viewers.discard(viewer)
            if viewer.close_code == CLOSE_TOO_SLOW:
                self.sent.slow_viewers += 1
                log.warning("channel %s: viewer fell behind, closing it (4008)", channel)
        for text in texts:
            self._count(text, written)

    def _count(self, text: str, written: int) -> None:
        sent = self.sent
        sent.messages += written
        if not written or not text.startswith(FRAMES_PREFIX):
            return
        frames = json.loads(text)["frames"]  # once per message, not per viewer
        sent.frames += len(frames) * written
        now = self._now_ms()
        sent.late_frames += sum(1 for t_ms, _ in frames if t_ms < now) * written

    def audience(self, channel: str) -> Audience:
        viewers = self._viewers.get(channel, ())
        return Audience(len(viewers), max((v.rtt_ms for v in viewers), default=0))

    def drop(self, channel: str, code: int) -> None:
        for viewer in list(self._viewers.pop(channel, ())):
            viewer.close(code)
