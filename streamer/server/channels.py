"""The channel service (I/O): the registry of live channels, their clock loops and commands.

Each channel has one clock loop with absolute deadlines (no drift from accumulated sleeps). A
channel decides what to say (the core :class:`~streamer.core.channel.Channel` plans it) and hands
each encoded message to the :class:`~streamer.server.fanout.Fanout`, which delivers it to the
channel's viewers. Commands come here from the WebSocket and REST endpoints alike, and are
checked by :func:`~streamer.core.commands.parse_command`. The clock is injected.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import re
import secrets
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from streamer.core.channel import AudioCue, Channel, Message
from streamer.core.commands import Interrupt, Play, Say, Set, Stop, parse_command
from streamer.core.emotions import expression_for_tag
from streamer.core.errors import CommandError, NotFound, StoreUnavailable, StreamerError
from streamer.core.resolve import resolve
from streamer.core.rig import Rig, suggest
from streamer.core.schedule import Schedule
from streamer.core.timeline import Timeline, parse_timeline
from streamer.rigset import DEFAULT_RIG_ID, pick
from streamer.server.errors import ChannelLimit
from streamer.server.fanout import CLOSE_RESTART, Fanout, LocalFanout, Viewer, encode
from streamer.server.framesource import ServedRig
from streamer.server.speaking import Speaker
from streamer.server.speech import SayOptions, SpeechWorkers, store_said
from streamer.settings import Settings
from streamer.storage import AudioInfo

log = logging.getLogger("streamer.server.live")

CHANNEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# A re-plan starts "now + lead"; encoding and queueing cost roughly 80 us per viewer here
# (benchmarks/fanout.py), so the lead grows with the audience to keep every frame on time.
BASE_LEAD_MS, LEAD_US_PER_VIEWER = 100, 120
# ... plus the slowest viewer's round trip (reported in its pings), so a re-plan reaches a far
# viewer before its first frame; capped so one very far viewer cannot delay every command by more.
MAX_NETWORK_LEAD_MS = 1000
# A program with audio starts at least this much (plus the network lead) after the command, so
# viewers fetch and buffer the audio (announced at once by program_start and audio) before it plays.
AUDIO_LEAD_MS = 800
# A spoken stream's first segment needs less: its audio is a few seconds of Opus, fetched at once.
SPEECH_LEAD_MS = 100
TAG_TRANSITION_MS = 250  # the face an inline emotion tag asks for is reached this fast
# At most one store_unavailable error per channel this often, however many prefetches fail.
STORE_ERROR_EVERY_MS = 2000
# The cache is warmed this far past the viewers' lookahead window, sampling the plan this often.
PREFETCH_AHEAD_MS, PREFETCH_STEP_MS = 2000, 10
# Housekeeping: reap idle channels, and tell viewers waiting for a channel that they still wait.
HOUSEKEEPING_S, WAITING_EVERY_S = 1.0, 5.0

# prefetch(keys in presentation order, on_error(key, exc)) starts warming the frame cache.
Prefetch = Callable[[list[str], Callable[[str, Exception], None]], object]



class Clock(Protocol):
    """Server time in milliseconds, as sent to viewers."""

    def now_ms(self) -> int: ...


class MonotonicClock:
    """Milliseconds since this process started (a per-process clock)."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)


def check_channel_name(name: str) -> str:
    if not CHANNEL_NAME.fullmatch(name):
        raise ChannelLimit(f"invalid channel name {name[:80]!r} (use a-z, 0-9, '_' and '-', at most 64)")
    return name


def error_message(code: str, message: str, msg_id: Any = None) -> Message:
    out: Message = {"type": "error", "code": code, "message": message}
    if msg_id is not None:
        out["id"] = msg_id
    return out


def waiting_message(name: str) -> str:
    return encode({"type": "waiting", "channel": name})


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

    def broadcast(self, messages: list[Message]) -> None:
        texts = [self._encode(message) for message in messages]
        self._prefetch_planned(ahead=False)
        for text in texts:
            self.service.fanout.deliver(self.name, text)

    def send(self, viewer: Viewer, messages: list[Message]) -> None:
        """Messages for one viewer (a join): the ticks look ahead."""
        texts = [self._encode(message) for message in messages]
        self._prefetch_planned(ahead=False)
        for text in texts:
            viewer.push(text)

    def fit_lead(self, audio_ms: int = 0) -> None:
        """Re-plans start far enough ahead that the broadcast reaches every viewer in time.

        The lead covers the encoding and queueing cost of the audience, the slowest viewer's
        round trip (at most MAX_NETWORK_LEAD_MS) and ``audio_ms`` for viewers to fetch a
        program's audio (AUDIO_LEAD_MS, or SPEECH_LEAD_MS for spoken segments).
        """
        audience = self.service.fanout.audience(self.name)
        network = min(audience.max_rtt_ms, MAX_NETWORK_LEAD_MS)
        lead = BASE_LEAD_MS + audience.viewers * LEAD_US_PER_VIEWER // 1000 + network
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
            deadline = max(deadline + batch, now)
            program = self.core.program
            wake = min(deadline, program.end_ms) if program and program.end_ms > now else deadline
            await asyncio.sleep(max(0, wake - now_ms()) / 1000)


class ChannelService:
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
        fanout: Fanout | None = None,
        clock: Clock | None = None,
        speech: SpeechWorkers | None = None,
    ) -> None:
        self.rigs, self.settings = rigs, settings
        self.timelines, self.audio = timelines, audio
        self.audio_url, self.prefetch = audio_url, prefetch
        self.fanout: Fanout = fanout or LocalFanout()
        self.clock: Clock = clock or MonotonicClock()
        self.speech = speech or SpeechWorkers()
        self.channels: dict[str, LiveChannel] = {}
        # Viewers of channels that no controller has created yet: they wait here, cheaply.
        self.waiting: dict[str, set[Viewer]] = {}
        self._housekeeper: asyncio.Task[None] | None = None

    def now_ms(self) -> int:
        return self.clock.now_ms()

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
        for name, channel in self.channels.items():
            channel.close()
            self.fanout.drop(name, CLOSE_RESTART)
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
        self.fanout.join(channel.name, viewer)  # registered before its first message can arrive
        channel.last_used_ms = self.now_ms()
        channel.send(viewer, channel.core.join(self.now_ms(), viewer.role))
        log.info("channel %s: %s joined (%d watching)", channel.name, viewer.role, channel.viewers)

    def remove_viewer(self, viewer: Viewer) -> None:
        channel = self.channels.get(viewer.channel or "")
        if channel is not None and self.fanout.leave(channel.name, viewer):
            channel.last_used_ms = self.now_ms()
            log.info("channel %s: %s left (%d watching)", channel.name, viewer.role, channel.viewers)
        waiting = self.waiting.get(viewer.waiting_for or "")
        if waiting is not None:
            waiting.discard(viewer)
            if not waiting:
                del self.waiting[viewer.waiting_for or ""]

    def wait_for(self, name: str, viewer: Viewer) -> None:
        """Park a viewer of a channel that does not exist yet; it joins when a controller creates it."""
        viewer.waiting_for = name
        self.waiting.setdefault(name, set()).add(viewer)
        viewer.push(waiting_message(name))
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
                    text = waiting_message(name)
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
                channel.close()
                reaped.append(name)
                log.info("channel %s removed after %d s idle", name, idle // 1000)
        return reaped

    # -- commands (from the WebSocket and REST endpoints alike) -----------------------------

    async def command(self, name: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Check and apply one command to channel ``name`` (created if needed); returns its result."""
        command = parse_command(kind, body, self.now_ms())
        channel = self.channel(name)
        if isinstance(command, Play):
            return await self._play(channel, command)
        if isinstance(command, Say):
            return self._say(channel, command)
        if isinstance(command, Set):
            return await self._set(channel, command)
        async with channel.lock:
            channel.fit_lead()
            if isinstance(command, Interrupt):
                channel.hush()
                result, messages = channel.core.interrupt(self.now_ms())
            else:
                assert isinstance(command, Stop)
                channel.hush()
                result, messages = channel.core.stop(self.now_ms())
            channel.commanded()
            channel.broadcast(messages)
        return result

    async def _set(self, channel: LiveChannel, command: Set) -> dict[str, Any]:
        asked = None if command.rig is None else pick(self.rigs, command.rig)
        if asked is not None:  # names of the new rig, checked before the switch (the core checks the rest)
            expr, pose, rig = command.expr, command.pose, asked.rig
            if expr is not None and expr not in rig.expressions:
                raise CommandError(f"expr: unknown expression {expr!r}{suggest(expr, rig.expressions)}")
            if pose is not None and pose not in rig.poses:
                raise CommandError(f"pose: unknown pose {pose!r}{suggest(pose, rig.poses)}")
        async with channel.lock:
            state = channel.core.state
            result: dict[str, Any] = {"expr": state.expr, "pose": state.pose}
            if asked is not None and asked is not channel.served:
                result = channel.switch_rig(asked)
            if command.expr is not None or command.pose is not None:
                channel.fit_lead()
                result, messages = channel.core.set(self.now_ms(), command.expr, command.pose, command.transition_ms)
                channel.broadcast(messages)
            channel.commanded()
        return {**result, "rig": channel.served.id}

    def _say(self, channel: LiveChannel, command: Say) -> dict[str, Any]:
        """Feed a stream's text to the channel's speaker (a new stream replaces the one speaking)."""
        options = SayOptions.parse(command.options, self.settings)
        speaker = channel.speaker
        if speaker is None or speaker.done or (command.stream is not None and speaker.stream != command.stream):
            channel.hush()
            stream = command.stream or secrets.token_hex(6)
            say = functools.partial(self._say_segment, channel, stream)
            speaker = channel.speaker = Speaker(stream, options, say, self.now_ms)
        speaker.feed(command.text, command.final)
        channel.commanded()
        return {"stream": speaker.stream, "segments": speaker.segments, "final": speaker.final}

    async def _say_segment(
        self, channel: LiveChannel, stream: str, text: str, options: SayOptions, tag: str | None
    ) -> None:
        """Speak one segment and place it on the channel after the stream's previous one.

        An emotion ``tag`` the rig can show replaces the planned face for the whole segment.
        """
        try:
            rig = channel.served.rig
            said = await options.speak(self.speech, text, rig, self.settings)
            audio_id = await store_said(self.audio, said, self.settings)
            doc = said.timeline(audio_id, options.lipsync)
            expr = None if tag is None else expression_for_tag(tag, rig.expressions)
            if expr is not None:
                doc["tracks"]["emotion"] = [{"t_ms": 0, "expr": expr, "transition_ms": TAG_TRANSITION_MS}]
            state = channel.core.state  # start from the face on screen: no jump between segments
            doc["start"] = {"expr": state.expr, "pose": state.pose}
            schedule = await asyncio.to_thread(lambda: resolve(parse_timeline(doc), rig))
        except StreamerError as exc:
            log.warning("channel %s: cannot say %r: %s", channel.name, text[:40], exc)
            channel.broadcast([error_message("speech_failed", f"stream {stream}: {exc}")])
            return
        async with channel.lock:
            channel.fit_lead(SPEECH_LEAD_MS)
            url = self.audio_url(audio_id)
            program, messages = channel.core.speak(self.now_ms(), schedule, url, said.speech.duration_ms, stream=stream)
            channel.program_started(program.id, program.start_ms + program.segments[-1].offset_ms, schedule)
            channel.broadcast(messages)
        log.info("channel %s: said %r (%d ms) in stream %s", channel.name, text[:40], said.speech.duration_ms, stream)

    def _prepare(self, command: Play, rig: Rig) -> tuple[Timeline, Schedule, AudioInfo | None]:
        """The played timeline, parsed and checked once, its schedule on ``rig`` and its audio (blocking)."""
        if command.timeline_id is not None:
            timeline = self.timelines.load(command.timeline_id)
        else:
            timeline = parse_timeline(command.timeline)
        schedule = resolve(timeline, rig)  # checks the timeline against the rig
        info = None if timeline.audio is None else self.audio.info(timeline.audio.id)
        return timeline, schedule, info

    async def _play(self, channel: LiveChannel, command: Play) -> dict[str, Any]:
        asked = None if command.rig is None else pick(self.rigs, command.rig)
        served = asked or channel.served
        timeline, schedule, info = await asyncio.to_thread(self._prepare, command, served.rig)
        cue = None
        if timeline.audio is not None and info is not None:
            cue = AudioCue(self.audio_url(timeline.audio.id), timeline.audio.offset_ms, info.duration_ms)
        async with channel.lock:
            if asked is not None and asked is not channel.served:
                channel.switch_rig(asked)
            elif served is not channel.served:  # switched by another command meanwhile: play on its rig
                schedule = await asyncio.to_thread(resolve, timeline, channel.served.rig)
            channel.fit_lead(AUDIO_LEAD_MS if cue is not None else 0)
            channel.hush()
            program, messages = channel.core.play(
                self.now_ms(), schedule, timeline_id=command.timeline_id, audio=cue, at_ms=command.at_ms
            )
            channel.program_started(program.id, program.start_ms, schedule)
            channel.commanded()
            channel.broadcast(messages)
        name = command.timeline_id or "inline timeline"
        log.info("channel %s: playing %s (%d ms)", channel.name, name, schedule.duration_ms)
        return program.to_json()

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
            "viewers": channel.viewers,
            "commands": channel.commands,
        }
