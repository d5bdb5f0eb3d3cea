"""One live channel (I/O): a core :class:`~streamer.core.channel.Channel`, its clock loop, its
encoding of keys into URLs, prefetch, and delivery through the service's fan-out."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from streamer.core.channel import Channel
from streamer.core.errors import StoreUnavailable
from streamer.core.program import Message
from streamer.core.schedule import Schedule
from streamer.rigset import DEFAULT_RIG_ID
from streamer.server.fanout import Viewer, encode
from streamer.server.framesource import ServedRig
from streamer.server.speaking import PLACE_KEPT, Speaker

if TYPE_CHECKING:
    from streamer.server.channels import ChannelService

log = logging.getLogger("streamer.server.live")

# A re-plan starts "now + lead"; encoding and queueing cost roughly 80 us per viewer here
# (benchmarks/fanout.py), so the lead grows with the audience to keep every frame on time.
BASE_LEAD_MS, LEAD_US_PER_VIEWER = 100, 120
# A spoken segment's re-plan sizes that base from how long this channel's broadcasts take here
# (planning, encoding, writing to every viewer: the slowest of the last BROADCASTS_KEPT, times
# BROADCAST_MARGIN), at least MIN_MEASURED_LEAD_MS for the viewers' own reading; the per-viewer
# term stays, for viewers of other processes. Measured on loopback with 100 viewers: ~2-8 ms.
MIN_MEASURED_LEAD_MS, BROADCAST_MARGIN, BROADCASTS_KEPT = 25, 3, 32
# ... plus the slowest viewer's round trip (reported in its pings), so a re-plan reaches a far
# viewer before its first frame; capped so one very far viewer cannot delay every command by more.
MAX_NETWORK_LEAD_MS = 1000
# At most one store_unavailable error per channel this often, however many prefetches fail.
STORE_ERROR_EVERY_MS = 2000
# The cache is warmed this far past the viewers' lookahead window, sampling the plan this often.
PREFETCH_AHEAD_MS, PREFETCH_STEP_MS = 2000, 10


def measured_base_ms(broadcast_ms: Iterable[float]) -> int:
    """A re-plan's base lead from how long recent broadcasts took (BASE_LEAD_MS before any)."""
    slowest = max(broadcast_ms, default=None)
    if slowest is None:
        return BASE_LEAD_MS
    return max(MIN_MEASURED_LEAD_MS, math.ceil(BROADCAST_MARGIN * slowest))


def error_message(code: str, message: str, msg_id: Any = None) -> Message:
    out: Message = {"type": "error", "code": code, "message": message}
    if msg_id is not None:
        out["id"] = msg_id
    return out


class LiveChannel:
    """A core :class:`Channel` plus its clock loop and prefetch."""

    def __init__(self, service: ChannelService, name: str) -> None:
        self.service, self.name = service, name
        s = service.settings
        self._planned: list[str] = []  # keys put in messages since the last prefetch
        self._store_error_ms = -STORE_ERROR_EVERY_MS
        # The playing program's changes on the server clock, exact, for prefetch: (id, times, keys).
        self._program_changes: tuple[str, list[int], list[str]] | None = None
        self.served: ServedRig = service.rigs[DEFAULT_RIG_ID]  # the rig this channel plays
        self.core = Channel(
            name,
            self.served.rig,
            now_ms=service.now_ms(),
            lookahead_ms=s.lookahead_ms,
            batch_ms=s.batch_ms,
            rig_id=self.served.id,
        )
        self.last_used_ms = service.now_ms()  # the last command, join or leave: idle channels are reaped
        self.commands = 0  # accepted play/stop/set: the OBS page names a channel nobody has driven yet
        self.speaker: Speaker | None = None  # the stream of text being said, if any
        self.place_ms: deque[int] = deque(maxlen=PLACE_KEPT)  # how long placing recent segments took
        self.broadcast_ms: deque[float] = deque(maxlen=BROADCASTS_KEPT)  # how long recent broadcasts took
        self.task = asyncio.create_task(self._run(), name=f"channel-{name}")
        self.lock = asyncio.Lock()

    def hush(self) -> None:
        """Drop what the speaker has queued and stop its synthesis."""
        if self.speaker is not None:
            self.speaker.cancel()
            self.speaker = None

    def close(self) -> None:
        self.hush()
        self.task.cancel()

    @property
    def viewers(self) -> int:
        return self.service.fanout.audience(self.name).viewers

    def idle_since(self, now_ms: int) -> int | None:
        """How long the channel has had no viewers, no program and no command (None while in use)."""
        program = self.core.program
        if self.viewers or (program is not None and program.end_ms > now_ms):
            return None
        return now_ms - self.last_used_ms

    def _encode(self, message: Message) -> str:
        """``message`` as viewers get it: the core's frame keys become URLs (and are noted for prefetch)."""
        kind, served = message["type"], self.served
        if kind == "frames":
            frames, url = message["frames"], served.frame_url
            if self.service.prefetch is not None:
                self._planned += [served.store_key(key) for _, key in frames]
            message = {**message, "frames": [[t, url(key)] for t, key in frames]}
        elif kind in ("hello", "rig"):
            message = {**message, "frame_base_url": served.frame_base_url}
        return encode(message)

    def switch_rig(self, served: ServedRig) -> Message:
        """Play ``served`` from now on (hold the lock); returns the command's result."""
        self.fit_lead()
        self.served = served
        self._program_changes = None
        result, messages = self.core.switch_rig(self.service.now_ms(), served.rig, served.id)
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
        prefetch = self.service.prefetch
        if prefetch is None:
            return
        keys, self._planned = self._planned, []
        if ahead:
            start = self.service.now_ms() + self.core.lookahead_ms
            end = start + PREFETCH_AHEAD_MS
            changes, program = self._program_changes, self.core.program
            if changes is not None and program is not None and changes[0] == program.id:
                _, times, program_keys = changes
                keys += program_keys[max(bisect_left(times, start) - 1, 0) : bisect_left(times, end)]
            keys += [self.served.store_key(self.core.key_at(t)) for t in range(start, end, PREFETCH_STEP_MS)]
        if keys:
            prefetch(keys, self._store_failed)

    def program_started(self, program_id: str, start_ms: int, schedule: Schedule) -> None:
        """Remember a new program's changes so prefetch can follow them exactly."""
        if self.service.prefetch is not None:
            times = [start_ms + t for t, _ in schedule.changes]
            self._program_changes = (program_id, times, [self.served.store_key(key) for _, key in schedule.changes])

    def _store_failed(self, key: str, exc: Exception) -> None:
        if not isinstance(exc, StoreUnavailable):
            log.warning("channel %s: cannot prefetch %s: %s", self.name, key, exc)
            return
        now = self.service.now_ms()
        if now - self._store_error_ms < STORE_ERROR_EVERY_MS:
            return
        self._store_error_ms = now
        log.warning("channel %s: frame store unavailable: %s", self.name, exc)
        self.broadcast([error_message("store_unavailable", f"frames may be late: {exc}")])

    def broadcast(self, messages: list[Message], since: float | None = None) -> None:
        """Deliver ``messages`` to every viewer, noting how long it took (from ``since``, a
        ``time.perf_counter()`` taken when they were planned, else from now)."""
        started = time.perf_counter() if since is None else since
        texts = [self._encode(message) for message in messages]
        self._prefetch_planned(ahead=False)
        if texts:
            self.service.fanout.deliver(self.name, texts)
            self.broadcast_ms.append((time.perf_counter() - started) * 1000)

    def send(self, viewer: Viewer, messages: list[Message]) -> None:
        """Messages for one viewer (a join): the ticks look ahead."""
        for text in self.encoded(messages):
            viewer.push(text)

    def encoded(self, messages: list[Message]) -> list[str]:
        """``messages`` as one viewer gets them (prefetching their frames)."""
        texts = [self._encode(message) for message in messages]
        self._prefetch_planned(ahead=False)
        return texts

    def fit_lead(self, audio_ms: int = 0, *, measured: bool = False) -> None:
        """Re-plans start far enough ahead that the broadcast reaches every viewer in time.

        The lead covers the encoding and queueing cost of the audience, the slowest viewer's
        round trip (at most MAX_NETWORK_LEAD_MS) and ``audio_ms`` for viewers to fetch a
        program's audio (AUDIO_LEAD_MS, or SPEECH_LEAD_MS for spoken segments). With
        ``measured`` (spoken segments, interrupts), the base comes from this channel's recent broadcasts.
        """
        audience = self.service.fanout.audience(self.name)
        network = min(audience.max_rtt_ms, MAX_NETWORK_LEAD_MS)
        base = measured_base_ms(self.broadcast_ms) if measured else BASE_LEAD_MS
        lead = base + audience.viewers * LEAD_US_PER_VIEWER // 1000 + network
        self.core.lead_ms = lead + audio_ms

    def commanded(self) -> None:
        """Count an accepted command (hold the lock)."""
        self.last_used_ms = self.service.now_ms()
        self.commands += 1

    async def _run(self) -> None:
        batch = self.core.batch_ms
        now_ms = self.service.now_ms
        deadline = now_ms()
        while True:
            now = now_ms()
            self.broadcast(self.core.tick(now))
            self._prefetch_planned(ahead=True)  # ticks look past the window; re-plans warm the window first
            # The next tick a batch after this one: a late tick moves the grid, else the next one,
            # on time, would find less than a batch to send and skip (a top-up every 500 ms).
            deadline = max(deadline, now) + batch
            program = self.core.program
            wake = min(deadline, program.end_ms) if program and program.end_ms > now else deadline
            await asyncio.sleep(max(0, wake - now_ms()) / 1000)
