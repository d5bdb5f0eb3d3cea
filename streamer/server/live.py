"""Live channels over WebSocket and REST (I/O): moves the core channel's messages to viewers.

Each channel has one clock loop with absolute deadlines (no drift from accumulated sleeps).
Every outgoing message is JSON-encoded once per channel and the same string is written to
every viewer; a viewer whose transport pushes back gets a bounded queue and a writer task, and
a viewer that cannot keep up is closed (4008) without delaying anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import re
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Coroutine, Generator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from streamer.core.channel import AudioCue, Channel, Message
from streamer.core.errors import (
    CommandError,
    NotFound,
    StoreUnavailable,
    StreamerError,
    TimelineError,
    UnreachableError,
)
from streamer.core.resolve import resolve
from streamer.core.rig import suggest
from streamer.core.schedule import Schedule
from streamer.core.timeline import Timeline, loads, parse_timeline
from streamer.rigset import DEFAULT_RIG_ID, UnknownRig, pick
from streamer.server.exports import watch_export
from streamer.server.framesource import ServedRig
from streamer.server.http import authorize_write, read_json
from streamer.server.security import (
    origin_allowed,
    presented_token,
    token_matches,
    token_ok,
    write_origin_allowed,
)
from streamer.settings import Settings

log = logging.getLogger(__name__)

CHANNEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
CLOSE_POLICY, CLOSE_RESTART = 1008, 1012
CLOSE_UNAUTHORIZED, CLOSE_BAD_CHANNEL, CLOSE_TOO_SLOW, CLOSE_FLOOD = 4001, 4002, 4008, 4029
RATE_PER_S, RATE_BURST = 20.0, 40.0
# A re-plan starts "now + lead"; encoding and queueing cost roughly 80 us per viewer here
# (benchmarks/fanout.py), so the lead grows with the audience to keep every frame on time.
BASE_LEAD_MS, LEAD_US_PER_VIEWER = 100, 120
# ... plus the slowest viewer's round trip (reported in its pings), so a re-plan reaches a far
# viewer before its first frame; capped so one very far viewer cannot delay every command by more.
MAX_NETWORK_LEAD_MS = 1000
# A program with audio starts at least this much (plus the network lead) after the command, so
# viewers fetch and buffer the audio (announced at once by program_start and audio) before it plays.
AUDIO_LEAD_MS = 800
MAX_TRANSITION_MS = 10_000
# At most one store_unavailable error per channel this often, however many prefetches fail.
STORE_ERROR_EVERY_MS = 2000
# The cache is warmed this far past the viewers' lookahead window, sampling the plan this often.
PREFETCH_AHEAD_MS, PREFETCH_STEP_MS = 2000, 10
MAX_WATCHES = 8  # export jobs one controller may watch at once
# ``at_ms`` may lie this far in the past (it then starts as soon as possible) or in the future.
AT_MS_PAST_LIMIT_MS, AT_MS_FUTURE_LIMIT_MS = 10_000, 24 * 3600 * 1000
# A controller that connects without a token (when one is needed) must send ``auth`` this soon.
AUTH_TIMEOUT_S = 5.0
# Housekeeping: reap idle channels, and tell viewers waiting for a channel that they still wait.
HOUSEKEEPING_S, WAITING_EVERY_S = 1.0, 5.0

# prefetch(keys in presentation order, on_error(key, exc)) starts warming the frame cache.
Prefetch = Callable[[list[str], Callable[[str, Exception], None]], object]


class ChannelLimit(StreamerError, ValueError):
    """A bad channel name, or too many channels."""


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

    The common case writes at once: the send coroutine is stepped by hand and, while the
    transport has room, finishes without suspending, so a broadcast costs no task switch per
    viewer (the way websockets' ``broadcast()`` writes). When the transport pushes back, the
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

    def push(self, text: str) -> bool:
        """Send or queue ``text``; False (and start closing) when the viewer has fallen behind."""
        if self.closing:
            return False
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


class LiveChannel:
    """A core :class:`Channel` plus its viewers and clock loop."""

    def __init__(self, hub: ChannelHub, name: str) -> None:
        self.hub, self.name = hub, name
        s = hub.settings
        self._planned: list[str] = []  # keys put in messages since the last prefetch
        self._store_error_ms = -STORE_ERROR_EVERY_MS
        # The playing program's changes on the server clock, exact, for prefetch: (id, times, keys).
        self._program_changes: tuple[str, list[int], list[str]] | None = None
        self.served: ServedRig = hub.rigs[DEFAULT_RIG_ID]  # the rig this channel plays
        self.core = Channel(
            name,
            self.served.rig,
            frame_url=self._frame_url,
            frame_base_url=self.served.frame_base_url,
            now_ms=hub.now_ms(),
            lookahead_ms=s.lookahead_ms,
            batch_ms=s.batch_ms,
            rig_id=self.served.id,
        )
        self.viewers: set[Viewer] = set()
        self.last_used_ms = hub.now_ms()  # the last command, join or leave: idle channels are reaped
        self.commands = 0  # accepted play/stop/set: the OBS page names a channel nobody has driven yet
        self.task = asyncio.create_task(self._run(), name=f"channel-{name}")
        self.lock = asyncio.Lock()

    def idle_since(self, now_ms: int) -> int | None:
        """How long the channel has had no viewers, no program and no command (None while in use)."""
        program = self.core.program
        if self.viewers or (program is not None and program.end_ms > now_ms):
            return None
        return now_ms - self.last_used_ms

    def _frame_url(self, key: str) -> str:
        # The core asks for URLs in presentation order while it plans: note the keys to prefetch.
        if self.hub.prefetch is not None:
            self._planned.append(self.served.store_key(key))
        return self.served.frame_url(key)

    def switch_rig(self, served: ServedRig) -> Message:
        """Play ``served`` from now on (hold the lock); returns the command's result."""
        self.fit_lead()
        self.served = served
        self._program_changes = None
        result, messages = self.core.switch_rig(
            self.hub.now_ms(), served.rig, served.id, frame_url=self._frame_url, frame_base_url=served.frame_base_url
        )
        self.broadcast(messages)
        log.info("channel %s: now plays rig %s", self.name, served.id)
        return result

    def _prefetch_planned(self, ahead: bool) -> None:
        """Warm the cache with the keys just put in messages, then (``ahead``) the plan past the window.

        Viewers preload what they receive at once, so the cache must be ahead of them. Past
        the lookahead window, a program's changes are taken exactly from its schedule; the
        rest of the plan (idle, transitions) is sampled every PREFETCH_STEP_MS (a change
        shorter than that may be missed and is then fetched on demand, once).
        """
        if self.hub.prefetch is None:
            return
        keys, self._planned = self._planned, []
        if ahead:
            start = self.hub.now_ms() + self.core.lookahead_ms
            end = start + PREFETCH_AHEAD_MS
            changes, program = self._program_changes, self.core.program
            if changes is not None and program is not None and changes[0] == program.id:
                _, times, program_keys = changes
                keys += program_keys[max(bisect_left(times, start) - 1, 0) : bisect_left(times, end)]
            keys += [self.served.store_key(self.core.key_at(t)) for t in range(start, end, PREFETCH_STEP_MS)]
        if keys:
            self.hub.prefetch(keys, self._store_failed)

    def program_started(self, program_id: str, start_ms: int, schedule: Schedule) -> None:
        """Remember a new program's changes so prefetch can follow them exactly."""
        if self.hub.prefetch is not None:
            times = [start_ms + t for t, _ in schedule.changes]
            self._program_changes = (program_id, times, [self.served.store_key(key) for _, key in schedule.changes])

    def _store_failed(self, key: str, exc: Exception) -> None:
        if not isinstance(exc, StoreUnavailable):
            log.warning("channel %s: cannot prefetch %s: %s", self.name, key, exc)
            return
        now = self.hub.now_ms()
        if now - self._store_error_ms < STORE_ERROR_EVERY_MS:
            return
        self._store_error_ms = now
        log.warning("channel %s: frame store unavailable: %s", self.name, exc)
        self.broadcast([_error("store_unavailable", f"frames may be late: {exc}")])

    def broadcast(self, messages: list[Message]) -> None:
        self._prefetch_planned(ahead=False)
        for message in messages:
            text = json.dumps(message, separators=(",", ":"))
            for viewer in list(self.viewers):
                if not viewer.push(text):
                    self.viewers.discard(viewer)
                    if viewer.close_code == CLOSE_TOO_SLOW:
                        log.warning("channel %s: viewer fell behind, closing it (4008)", self.name)

    def fit_lead(self, audio: bool = False) -> None:
        """Re-plans start far enough ahead that the broadcast reaches every viewer in time.

        The lead covers the encoding and queueing cost of the audience, the slowest viewer's
        round trip (at most MAX_NETWORK_LEAD_MS) and, for a program with ``audio``, the time
        to fetch it (AUDIO_LEAD_MS).
        """
        network = min(max((v.rtt_ms for v in self.viewers), default=0), MAX_NETWORK_LEAD_MS)
        lead = BASE_LEAD_MS + len(self.viewers) * LEAD_US_PER_VIEWER // 1000 + network
        self.core.lead_ms = lead + (AUDIO_LEAD_MS if audio else 0)

    def send(self, viewer: Viewer, messages: list[Message]) -> None:
        self._prefetch_planned(ahead=False)  # replies and joins: the ticks look ahead
        for message in messages:
            viewer.push(json.dumps(message, separators=(",", ":")))

    async def _run(self) -> None:
        batch = self.core.batch_ms
        deadline = self.hub.now_ms()
        while True:
            now = self.hub.now_ms()
            self.broadcast(self.core.tick(now))
            self._prefetch_planned(ahead=True)  # ticks look past the window; re-plans warm the window first
            deadline = max(deadline + batch, now)
            program = self.core.program
            wake = min(deadline, program.end_ms) if program and program.end_ms > now else deadline
            await asyncio.sleep(max(0, wake - self.hub.now_ms()) / 1000)


class ChannelHub:
    """Every live channel of this process, created on first use up to ``max_channels``."""

    def __init__(
        self,
        *,
        rigs: Mapping[str, ServedRig],
        settings: Settings,
        timelines: Any,
        audio: Any,
        audio_url: Callable[[str], str],
        prefetch: Prefetch | None = None,
    ) -> None:
        self.rigs, self.settings = rigs, settings
        self.timelines, self.audio = timelines, audio
        self.audio_url, self.prefetch = audio_url, prefetch
        self.channels: dict[str, LiveChannel] = {}
        # Viewers of channels that no controller has created yet: they wait here, cheaply.
        self.waiting: dict[str, set[Viewer]] = {}
        self._housekeeper: asyncio.Task[None] | None = None
        self._t0 = time.monotonic()

    def now_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    async def start(self) -> None:
        self.channel("main")
        self._housekeeper = asyncio.create_task(self._housekeeping(), name="channel-housekeeping")
        # The rig, routes and caches live for the whole process: keep them out of the
        # cyclic GC's scans so a full collection never stalls a broadcast.
        gc.freeze()

    async def close(self) -> None:
        if self._housekeeper is not None:
            self._housekeeper.cancel()
        for viewers in self.waiting.values():
            for viewer in viewers:
                viewer.close(CLOSE_RESTART)
        for channel in self.channels.values():
            channel.task.cancel()
            for viewer in list(channel.viewers):
                viewer.close(CLOSE_RESTART)
        await asyncio.gather(*(c.task for c in self.channels.values()), return_exceptions=True)

    def channel(self, name: str) -> LiveChannel:
        """The channel ``name``, created if needed (commands and controllers only: viewers wait)."""
        found = self.channels.get(name)
        if found is not None:
            return found
        check_channel_name(name)
        if len(self.channels) >= self.settings.max_channels:
            raise ChannelLimit(f"too many channels (limit {self.settings.max_channels}); cannot create {name!r}")
        channel = self.channels[name] = LiveChannel(self, name)
        log.info("channel %s created", name)
        for viewer in self.waiting.pop(name, ()):
            if not viewer.closing:
                self.add_viewer(channel, viewer)
        return channel

    def add_viewer(self, channel: LiveChannel, viewer: Viewer) -> None:
        """Register ``viewer`` on ``channel`` and bring it up to date (hello, frames, program)."""
        viewer.channel = channel.name
        channel.viewers.add(viewer)  # registered before its first message can arrive
        channel.last_used_ms = self.now_ms()
        channel.send(viewer, channel.core.join(self.now_ms(), viewer.role))
        log.info("channel %s: %s joined (%d watching)", channel.name, viewer.role, len(channel.viewers))

    def remove_viewer(self, viewer: Viewer) -> None:
        channel = self.channels.get(viewer.channel or "")
        if channel is not None and viewer in channel.viewers:
            channel.viewers.discard(viewer)
            channel.last_used_ms = self.now_ms()
            log.info("channel %s: %s left (%d watching)", channel.name, viewer.role, len(channel.viewers))
        waiting = self.waiting.get(viewer.waiting_for or "")
        if waiting is not None:
            waiting.discard(viewer)
            if not waiting:
                del self.waiting[viewer.waiting_for or ""]

    def wait_for(self, name: str, viewer: Viewer) -> None:
        """Park a viewer of a channel that does not exist yet; it joins when a controller creates it."""
        viewer.waiting_for = name
        self.waiting.setdefault(name, set()).add(viewer)
        viewer.push(_waiting(name))
        log.info("channel %s: a viewer waits for it to be created", name)

    async def _housekeeping(self) -> None:
        waited = 0.0
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            self.reap_idle()
            waited += HOUSEKEEPING_S
            if waited >= WAITING_EVERY_S:  # a heartbeat, so waiting pages can tell "waiting" from "dead"
                waited = 0.0
                for name, viewers in self.waiting.items():
                    text = _waiting(name)
                    for viewer in list(viewers):
                        viewer.push(text)

    def reap_idle(self) -> list[str]:
        """Remove channels idle for ``channel_idle_s`` (never ``main``); returns their names."""
        now, limit = self.now_ms(), self.settings.channel_idle_s * 1000
        reaped = []
        for name, channel in list(self.channels.items()):
            idle = channel.idle_since(now)
            if name != "main" and idle is not None and idle >= limit:
                del self.channels[name]
                channel.task.cancel()
                reaped.append(name)
                log.info("channel %s removed after %d s idle", name, idle // 1000)
        return reaped

    # -- commands (shared by WebSocket and REST) -----------------------------------------

    async def _timeline(self, body: dict[str, Any]) -> tuple[Timeline, str | None]:
        timeline_id = body.get("timeline_id")
        if timeline_id is not None:
            if not isinstance(timeline_id, str):
                raise CommandError(f"timeline_id: must be a string, got {timeline_id!r}")
            return await asyncio.to_thread(self.timelines.load, timeline_id), timeline_id
        if "timeline" in body:
            return parse_timeline(body["timeline"]), None
        raise CommandError("play needs timeline_id or timeline")

    def _asked_rig(self, body: dict[str, Any]) -> ServedRig | None:
        """The rig a command's ``rig`` field names (None when it has none); raises :class:`UnknownRig`."""
        return None if body.get("rig") is None else pick(self.rigs, body["rig"])

    async def play(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        channel = self.channel(name)
        at_ms = self._at_ms(body.get("at_ms"))
        asked = self._asked_rig(body)
        served = asked or channel.served
        timeline, timeline_id = await self._timeline(body)
        schedule = await asyncio.to_thread(resolve, timeline, served.rig)
        cue = None
        if timeline.audio is not None:
            info = await asyncio.to_thread(self.audio.info, timeline.audio.id)
            cue = AudioCue(self.audio_url(timeline.audio.id), timeline.audio.offset_ms, info.duration_ms)
        async with channel.lock:
            if asked is not None and asked is not channel.served:
                channel.switch_rig(asked)
            elif served is not channel.served:  # switched by another command meanwhile: play on its rig
                served = channel.served
                schedule = await asyncio.to_thread(resolve, timeline, served.rig)
            channel.fit_lead(audio=cue is not None)
            channel.last_used_ms = self.now_ms()
            program, messages = channel.core.play(
                self.now_ms(), schedule, timeline_id=timeline_id, audio=cue, at_ms=at_ms
            )
            channel.program_started(program.id, program.start_ms, schedule)
            channel.broadcast(messages)
            channel.commands += 1
        log.info("channel %s: playing %s (%d ms)", name, timeline_id or "inline timeline", schedule.duration_ms)
        return program.to_json()

    def _at_ms(self, at_ms: Any) -> int | None:
        """A valid ``at_ms``: an integer server time from 10 s ago to 24 h ahead, or None."""
        if at_ms is None:
            return None
        now = self.now_ms()
        lo, hi = max(0, now - AT_MS_PAST_LIMIT_MS), now + AT_MS_FUTURE_LIMIT_MS
        if isinstance(at_ms, bool) or not isinstance(at_ms, int) or not lo <= at_ms <= hi:
            shown = repr(at_ms) if not isinstance(at_ms, int) or abs(at_ms) < 10**20 else "a huge integer"
            raise CommandError(
                f"at_ms: must be an integer server time in [{lo}, {hi}] (now is {now}: from 10 s ago to 24 h ahead), "
                f"got {shown}"
            )
        return at_ms

    async def stop(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        channel = self.channel(name)
        async with channel.lock:
            channel.fit_lead()
            channel.last_used_ms = self.now_ms()
            result, messages = channel.core.stop(self.now_ms())
            channel.broadcast(messages)
            channel.commands += 1
        return result

    async def set(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        channel = self.channel(name)
        expr, pose = body.get("expr"), body.get("pose")
        ms = body.get("transition_ms", 300)
        for field, value in (("expr", expr), ("pose", pose)):
            if value is not None and not isinstance(value, str):
                raise CommandError(f"{field}: must be a string, got {value!r}")
        asked = self._asked_rig(body)
        if expr is None and pose is None and asked is None:
            raise CommandError("set needs expr, pose and/or rig")
        if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= MAX_TRANSITION_MS:
            raise CommandError(f"transition_ms: must be an integer in [0, {MAX_TRANSITION_MS}], got {ms!r}")
        if asked is not None:  # names of the new rig, checked before the switch (the core checks the rest)
            if expr is not None and expr not in asked.rig.expressions:
                raise CommandError(f"expr: unknown expression {expr!r}{suggest(expr, asked.rig.expressions)}")
            if pose is not None and pose not in asked.rig.poses:
                raise CommandError(f"pose: unknown pose {pose!r}{suggest(pose, asked.rig.poses)}")
        async with channel.lock:
            channel.last_used_ms = self.now_ms()
            result: dict[str, Any] = {"expr": channel.core.state.expr, "pose": channel.core.state.pose}
            if asked is not None and asked is not channel.served:
                result = channel.switch_rig(asked)
            if expr is not None or pose is not None:
                channel.fit_lead()
                result, messages = channel.core.set(self.now_ms(), expr, pose, ms)
                channel.broadcast(messages)
            channel.commands += 1
        return {**result, "rig": channel.served.id}

    def describe(self, name: str) -> dict[str, Any]:
        channel = self.channels.get(name)
        if channel is None:
            raise NotFound(f"no channel named {name[:80]!r}")
        core = channel.core
        return {
            "channel": name,
            "server_time_ms": self.now_ms(),
            "state": {"expr": core.state.expr, "pose": core.state.pose},
            "rig": channel.served.id,
            "program": None if core.program is None else core.program.to_json(),
            "viewers": len(channel.viewers),
            "commands": channel.commands,
        }


COMMANDS = ("play", "stop", "set")
ERROR_CODES: list[tuple[type[Exception], str]] = [
    (UnknownRig, "unknown_rig"),
    (NotFound, "not_found"),
    (TimelineError, "invalid_timeline"),
    (UnreachableError, "invalid_timeline"),
    (CommandError, "bad_message"),
    (ChannelLimit, "bad_message"),
]


def _waiting(name: str) -> str:
    return json.dumps({"type": "waiting", "channel": name}, separators=(",", ":"))


def _error(code: str, message: str, msg_id: Any = None) -> Message:
    out: Message = {"type": "error", "code": code, "message": message}
    if msg_id is not None:
        out["id"] = msg_id
    return out


class _Bucket:
    """Token bucket: ``RATE_PER_S`` messages a second with bursts of ``RATE_BURST``."""

    def __init__(self) -> None:
        self.tokens, self.at = RATE_BURST, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(RATE_BURST, self.tokens + (now - self.at) * RATE_PER_S)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


async def _refuse(ws: WebSocket, code: int, reason: str, *, accepted: bool = False) -> None:
    """Accept, then close with ``code``: browsers only see close codes on accepted sockets."""
    log.warning("websocket refused (%d): %s", code, reason)
    if not accepted:
        await ws.accept()
    await ws.close(code, reason=reason[:120])


def check_channel_name(name: str) -> str:
    if not CHANNEL_NAME.fullmatch(name):
        raise ChannelLimit(f"invalid channel name {name[:80]!r} (use a-z, 0-9, '_' and '-', at most 64)")
    return name


async def _receive_text(ws: WebSocket) -> str | None:
    """The next text message; None for a binary one. Raises WebSocketDisconnect at the end."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    return text if isinstance(text, str) else None


async def _authenticate(ws: WebSocket, settings: Settings) -> bool:
    """Wait for a controller's first message, ``{"type": "auth", "token": ...}``, and check it.

    Pages send the token this way rather than in the URL, where proxies and logs keep it.
    """
    try:
        text = await asyncio.wait_for(_receive_text(ws), AUTH_TIMEOUT_S)
        message = loads(text) if text is not None else None
    except (TimeoutError, StreamerError):
        return False
    if not isinstance(message, dict) or message.get("type") != "auth" or not isinstance(message.get("token"), str):
        return False
    return token_matches(message["token"], settings)


async def ws_endpoint(ws: WebSocket) -> None:
    hub: ChannelHub = ws.app.state.hub
    settings = hub.settings
    if not origin_allowed(ws.headers, settings):
        await _refuse(ws, CLOSE_POLICY, f"origin {ws.headers.get('origin', '')[:80]!r} is not allowed")
        return
    role = ws.query_params.get("role", "viewer")
    if role not in ("viewer", "controller"):
        await _refuse(ws, CLOSE_POLICY, f"unknown role {role[:40]!r} (viewer or controller)")
        return
    if role == "controller" and not write_origin_allowed(ws.headers, settings):
        origin = ws.headers.get("origin", "")[:80]
        await _refuse(ws, CLOSE_POLICY, f"origin {origin!r} may not control channels (see CORS_ORIGINS)")
        return
    # A token in the URL or a header is checked now; without one, the first message must carry it.
    deferred_auth = role == "controller" and settings.token is not None and presented_token(ws) is None
    if role == "controller" and not deferred_auth and not token_ok(ws, settings):
        await _refuse(ws, CLOSE_UNAUTHORIZED, "controller without a valid token")
        return
    name = ws.query_params.get("channel", "main")
    try:
        check_channel_name(name)
    except ChannelLimit as exc:
        await _refuse(ws, CLOSE_BAD_CHANNEL, str(exc))
        return
    await ws.accept()
    if deferred_auth and not await _authenticate(ws, settings):
        reason = "controller without a valid token (send {type: auth, token} first)"
        await _refuse(ws, CLOSE_UNAUTHORIZED, reason, accepted=True)
        return
    viewer = Viewer(ws, role, settings.viewer_queue)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if name in hub.channels or role == "controller":
                channel = hub.channel(name)
                await stack.enter_async_context(channel.lock)
                hub.add_viewer(channel, viewer)
            else:
                hub.wait_for(name, viewer)
    except ChannelLimit as exc:
        await _refuse(ws, CLOSE_BAD_CHANNEL, str(exc), accepted=True)
        return
    try:
        await _read_loop(ws, hub, viewer)
    except WebSocketDisconnect:
        pass
    finally:
        hub.remove_viewer(viewer)
        viewer.close(viewer.close_code)
        await viewer.finished(timeout=3)


async def _read_loop(ws: WebSocket, hub: ChannelHub, viewer: Viewer) -> None:
    bucket = _Bucket()
    while not viewer.closing:
        text = await _receive_text(ws)
        if not bucket.take():
            log.warning("channel %s: closing a flooding connection (4029)", viewer.channel or viewer.waiting_for)
            viewer.close(CLOSE_FLOOD)
            return
        if text is None:
            reply: Message | None = _error("bad_message", "binary messages are not supported: send JSON text")
        else:
            reply = await _handle(text, hub, viewer)
        if reply is not None:
            viewer.push(json.dumps(reply, separators=(",", ":")))


async def _handle(text: str, hub: ChannelHub, viewer: Viewer) -> Message | None:
    try:
        message = loads(text)
    except StreamerError as exc:
        return _error("bad_json", f"message is not valid JSON: {exc}")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return _error("bad_message", "message must be a JSON object with a string 'type'")
    kind, msg_id = message["type"], message.get("id")
    if kind == "ping":
        rtt = message.get("rtt_ms")
        if isinstance(rtt, int | float) and not isinstance(rtt, bool) and 0 <= rtt <= 60_000:
            viewer.rtt_ms = int(rtt)
        return {"type": "pong", "id": msg_id, "client_time": message.get("client_time"), "server_time_ms": hub.now_ms()}
    if kind == "auth":  # already checked at connect; a page may send it to any server
        return {"type": "ack", "id": msg_id, "ok": True, "result": {"role": viewer.role}}
    if kind == "watch_export":
        return _watch_export(viewer, message, msg_id)
    if kind not in COMMANDS:
        return _error("unknown_type", f"unknown message type {kind[:40]!r}", msg_id)
    if viewer.role != "controller":
        return _error("forbidden", f"{kind!r} needs role=controller (and the control token)", msg_id)
    name = viewer.channel or viewer.waiting_for or "main"
    try:
        result = await getattr(hub, kind)(name, message)
    except StreamerError as exc:
        code = next((c for cls, c in ERROR_CODES if isinstance(exc, cls)), "bad_message")
        log.info("channel %s: %s rejected: %s", name, kind, exc)
        return _error(code, str(exc), msg_id)
    return {"type": "ack", "id": msg_id, "ok": True, "result": result}


def _watch_export(viewer: Viewer, message: dict[str, Any], msg_id: Any) -> Message:
    """Start pushing an export job's progress to this controller (after the ack this returns)."""
    if viewer.role != "controller":
        return _error("forbidden", "'watch_export' needs role=controller (and the control token)", msg_id)
    export_id = message.get("export_id")
    if not isinstance(export_id, str):
        return _error("bad_message", "watch_export: export_id must be a string", msg_id)
    try:
        job = viewer.ws.app.state.exports.get(export_id)
    except NotFound as exc:
        return _error("not_found", str(exc), msg_id)
    if job.id not in viewer.watches:
        if len(viewer.watches) >= MAX_WATCHES:
            return _error("bad_message", f"watch_export: at most {MAX_WATCHES} exports watched at once", msg_id)
        task = asyncio.ensure_future(watch_export(job, lambda m: viewer.push(json.dumps(m, separators=(",", ":")))))
        viewer.watches[job.id] = task
        task.add_done_callback(lambda _t: viewer.watches.pop(job.id, None))
    return {"type": "ack", "id": msg_id, "ok": True, "result": {"export": job.to_json()}}


async def _rest_command(request: Request) -> JSONResponse:
    authorize_write(request)
    hub: ChannelHub = request.app.state.hub
    name, command = request.path_params["name"], request.path_params["command"]
    if command not in COMMANDS:
        raise NotFound(f"unknown command {command[:40]!r} (play, stop or set)")
    body = await read_json(request, allow_empty=True)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise CommandError("request body: must be a JSON object")
    return JSONResponse(await getattr(hub, command)(name, body))


async def _rest_describe(request: Request) -> JSONResponse:
    hub: ChannelHub = request.app.state.hub
    return JSONResponse(hub.describe(request.path_params["name"]))


def live_routes() -> list[BaseRoute]:
    return [
        WebSocketRoute("/ws", ws_endpoint),
        Route("/channels/{name}", _rest_describe, methods=["GET"]),
        Route("/channels/{name}/{command}", _rest_command, methods=["POST"]),
    ]
