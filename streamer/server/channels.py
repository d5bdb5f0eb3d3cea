"""The channel service (I/O): the registry of live channels and their commands.

Each channel (:class:`~streamer.server.livechannel.LiveChannel`) has one clock loop with
absolute deadlines (no drift from accumulated sleeps). A channel decides what to say (the core
:class:`~streamer.core.channel.Channel` plans it) and hands each encoded message to the
:class:`~streamer.server.fanout.Fanout`, which delivers it to the channel's viewers. Commands
come here from the WebSocket and REST endpoints alike, and are checked by
:func:`~streamer.core.commands.parse_command`. The clock is injected.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from streamer.core.commands import Command, Interrupt, Play, React, Record, Say, Set, Stop, parse_command
from streamer.core.emotions import expression_for_tag
from streamer.core.errors import CommandError, Conflict, NotFound, StreamerError
from streamer.core.program import AudioCue
from streamer.core.reactions import make_reaction
from streamer.core.resolve import resolve
from streamer.core.rig import Rig, suggest
from streamer.core.schedule import Schedule
from streamer.core.timeline import Timeline, parse_timeline
from streamer.rigset import pick
from streamer.server.errors import ChannelLimit
from streamer.server.fanout import CLOSE_RESTART, Fanout, LocalFanout, Viewer, encode
from streamer.server.framesource import ServedRig
from streamer.server.livechannel import LiveChannel, error_message
from streamer.server.recording import store_recording
from streamer.server.speaking import Speaker
from streamer.server.speech import SayOptions, SpeechWorkers, store_said
from streamer.settings import Settings
from streamer.speech.formats.audio import LIVE_OPUS_COMPLEXITY
from streamer.storage import AlreadyExists, AudioInfo

log = logging.getLogger("streamer.server.live")

CHANNEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# A program with audio starts at least this much (plus the network lead) after the command, so
# viewers fetch and buffer the audio (announced at once by program_start and audio) before it plays.
AUDIO_LEAD_MS = 800
# A spoken stream's first segment needs less: its audio is a few KB of Opus, fetched at once (the
# network lead above already covers the fetch's round trip; this is for the download and decode).
SPEECH_LEAD_MS = 40
TAG_TRANSITION_MS = 250  # the face an inline emotion tag asks for is reached this fast
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


class WallClock:
    """Milliseconds since the Unix epoch: the same in every process (across machines, with NTP)."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


def check_channel_name(name: str) -> str:
    if not CHANNEL_NAME.fullmatch(name):
        raise ChannelLimit(f"invalid channel name {name[:80]!r} (use a-z, 0-9, '_' and '-', at most 64)")
    return name


def waiting_message(name: str) -> str:
    return encode({"type": "waiting", "channel": name})


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
        self.clock: Clock = clock or MonotonicClock()
        self.fanout: Fanout = fanout or LocalFanout(self.clock.now_ms)
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

    def channel(self, name: str, setup: Callable[[LiveChannel], None] | None = None) -> LiveChannel:
        """The channel ``name``, created if needed (commands and controllers only: viewers wait).

        ``setup`` prepares a new channel before anyone joins it (another process's snapshot).
        """
        found = self.channels.get(name)
        if found is not None:
            return found
        check_channel_name(name)
        if len(self.channels) >= self.settings.max_channels:
            raise ChannelLimit(f"too many channels (limit {self.settings.max_channels}); cannot create {name!r}")
        channel = self.channels[name] = LiveChannel(self, name)
        if setup is not None:
            setup(channel)
        log.info("channel %s created", name)
        for viewer in self.waiting.pop(name, ()):
            if not viewer.closing:
                self.add_viewer(channel, viewer)
        return channel

    async def connect(self, name: str, viewer: Viewer) -> None:
        """Bring ``viewer`` onto channel ``name``: a controller creates it, a viewer waits for it.

        Raises :class:`ChannelLimit` when a controller's channel cannot be created.
        """
        if name in self.channels or viewer.role == "controller":
            channel = self.channel(name)
            async with channel.lock:  # a command in flight finishes before the viewer is brought up to date
                self.add_viewer(channel, viewer)
        else:
            self.wait_for(name, viewer)

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
        if isinstance(command, Record):
            return await self._record(channel, command)
        result = await self._apply(channel, command)
        recorder = channel.core.recorder
        if recorder is not None:  # the recording keeps the commands that made it
            fields = {k: (True if k == "timeline" else v) for k, v in body.items() if k not in ("type", "id")}
            recorder.event(self.now_ms(), kind, fields)
        return result

    async def _apply(self, channel: LiveChannel, command: Command) -> dict[str, Any]:
        if isinstance(command, Play):
            return await self._play(channel, command)
        if isinstance(command, Say):
            return self._say(channel, command)
        if isinstance(command, Set):
            return await self._set(channel, command)
        async with channel.lock:
            # An interrupt sends frames only (no audio to fetch): its lead is this channel's measured one.
            channel.fit_lead(measured=isinstance(command, Interrupt))
            if isinstance(command, React):  # layered over the program: the voice goes on
                reaction = make_reaction(
                    command.reaction,
                    channel.served.rig,
                    expr=command.expr,
                    duration_ms=command.duration_ms,
                    direction=command.direction,
                )
                result, messages = channel.core.react(self.now_ms(), reaction)
            elif isinstance(command, Interrupt):
                channel.hush()
                result, messages = channel.core.interrupt(self.now_ms())
            else:
                assert isinstance(command, Stop)
                channel.hush()
                result, messages = channel.core.stop(self.now_ms())
            channel.commanded()
            channel.broadcast(messages)
        return result

    async def _record(self, channel: LiveChannel, command: Record) -> dict[str, Any]:
        """Start recording, or stop and store what aired as a timeline with its audio."""
        if command.action == "start":
            async with channel.lock:
                return channel.core.record_start(self.now_ms())
        if channel.core.recorder is None:
            raise Conflict(f"channel {channel.name!r} is not recording: start a recording first")
        if command.timeline_id is not None and await asyncio.to_thread(self.timelines.exists, command.timeline_id):
            raise AlreadyExists(f"timeline {command.timeline_id!r} already exists; the recording goes on")
        async with channel.lock:
            recording = channel.core.record_stop(self.now_ms())
            rig = channel.served.rig
        prefix = self.audio_url("")
        return await store_recording(
            recording,
            rig=rig,
            audio=self.audio,
            timelines=self.timelines,
            audio_id_of=lambda url: url[len(prefix) :] if url.startswith(prefix) else None,
            timeline_id=command.timeline_id,
            name=command.name or f"{channel.name} recording",
        )

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
            speaker = channel.speaker = Speaker(stream, options, say, self.now_ms, channel.place_ms)
        speaker.feed(command.text, command.final)
        channel.commanded()
        return {"stream": speaker.stream, "segments": speaker.segments, "final": speaker.final}

    async def _say_segment(
        self, channel: LiveChannel, stream: str, text: str, options: SayOptions, tag: str | None
    ) -> int | None:
        """Speak one segment and place it on the channel after the stream's previous one.

        An emotion ``tag`` the rig can show replaces the planned face for the whole segment.
        Returns the latest server time the next segment can be placed to follow it without a
        gap (its audio's end less the lead), or None when it could not be said.
        """
        try:
            rig = channel.served.rig
            said = await options.speak(self.speech, text, rig, self.settings, LIVE_OPUS_COMPLEXITY)
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
            return None
        async with channel.lock:
            channel.fit_lead(SPEECH_LEAD_MS, measured=True)
            url = self.audio_url(audio_id)
            planned = time.perf_counter()
            program, messages = channel.core.speak(self.now_ms(), schedule, url, said.speech.duration_ms, stream=stream)
            channel.program_started(program.id, program.start_ms + program.segments[-1].offset_ms, schedule)
            channel.broadcast(messages, since=planned)
            if channel.core.recorder is not None:
                said_fields = {"stream": stream, "text": text, "audio": audio_id}
                channel.core.recorder.event(self.now_ms(), "segment", said_fields)
            deadline = program.speech_end_ms - channel.core.lead_ms
        log.info("channel %s: said %r (%d ms) in stream %s", channel.name, text[:40], said.speech.duration_ms, stream)
        return deadline

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

    async def health(self) -> dict[str, Any] | None:
        """What ``GET /health`` reports of sharing channels with other processes (None: one process)."""
        return None

    @property
    def here(self) -> LocalFanout:
        """The viewers connected to this process."""
        assert isinstance(self.fanout, LocalFanout)
        return self.fanout

    def figures(self) -> dict[str, Any]:
        """This process's share for ``GET /metrics``: channels it runs, its viewers, what it wrote to them."""
        here = self.here
        roles = Counter(viewer.role for name in here.channels() for viewer in here.viewers(name))
        return {
            "channels": len(self.channels),
            "viewers": {"viewer": roles["viewer"], "controller": roles["controller"]},
            "waiting": sum(len(viewers) for viewers in self.waiting.values()),
            "sent": here.sent.to_json(),
        }

    async def describe(self, name: str) -> dict[str, Any]:
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
            "recording": None if core.recorder is None else {"start_ms": core.recorder.start_ms},
            "viewers": channel.viewers,
            "commands": channel.commands,
        }
