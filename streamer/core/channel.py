"""A live channel as a sans-I/O object: commands and clock ticks in, protocol messages out (pure).

The channel owns a *plan*: absolute server-time ``(t_ms, frame_key)`` changes. Ticks top up
every viewer's lookahead window from the plan; commands re-plan from "now + lead" and send a
``frames`` message whose ``from_ms`` tells viewers to replace what they queued from then on.
Idle time is planned in chunks (deterministic blinks, the state holds), programs are resolved
schedules placed on the server clock, so live frames are the export's frames shifted in time.
Messages are plain dicts following ``docs/protocol.md``; the server encodes and sends them.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left, bisect_right
from dataclasses import asdict, replace
from typing import Any

from streamer.core.errors import CommandError, Conflict, UnreachableError
from streamer.core.layers import Combiner, idle_blinks
from streamer.core.motion import Motion
from streamer.core.program import AudioCue, Message, Program
from streamer.core.reactions import Placed, Reaction, overlay_targets, plan_targets
from streamer.core.recording import Recorder, Recording
from streamer.core.rig import Rig, State, suggest
from streamer.core.routing import router_for
from streamer.core.schedule import Schedule

PROTOCOL_VERSION = 1
IDLE_CHUNK_MS = 20_000
LEAD_IN_MS = 200  # route from the frame on screen to a program's first frame
HOME_TRANSITION_MS = 300
HEARTBEAT_MS = 1000  # an idle channel still sends a (possibly empty) frames message this often
INTERRUPT_MS = 40  # an interrupted program's face settles (mouth closed) this fast: one frame at 24 fps


class Channel:
    """One channel's plan and program. Times are server-clock milliseconds."""

    def __init__(
        self,
        name: str,
        rig: Rig,
        *,
        now_ms: int = 0,
        lookahead_ms: int = 1500,
        batch_ms: int = 250,
        lead_ms: int = 100,
        heartbeat_ms: int = HEARTBEAT_MS,
        rig_id: str = "default",
    ) -> None:
        self.name = name
        self.lookahead_ms = lookahead_ms
        self.batch_ms = batch_ms
        self.lead_ms = lead_ms
        self.heartbeat_ms = heartbeat_ms
        self._use_rig(rig, rig_id)
        self.state = self.home  # where the plan ends up (the idle state after it)
        self.program: Program | None = None
        self._program_count = 0
        self._times: list[int] = [now_ms]
        self._keys: list[str] = [rig.endpoint_key(self.home)]
        self._horizon = now_ms  # the plan is defined up to here
        self._sent_until = now_ms
        self._chunks = 0
        self._seed = zlib.crc32(name.encode())
        self._reactions: list[Placed] = []  # layered over the plan until they end
        # Under a reaction: the plan's changes as they were without it, over [from, until).
        self._underlay: tuple[int, int, list[tuple[int, str]]] | None = None
        self.recorder: Recorder | None = None  # what airs is recorded while this is set

    def _use_rig(self, rig: Rig, rig_id: str) -> None:
        self.rig, self.rig_id = rig, rig_id
        self.router = router_for(rig)
        self._combiner = Combiner(rig, self.router)
        self.home = State(rig.home_expression, rig.poses[0])

    # -- handover (another process continues the same plan: docs/scaling.md) --------------

    def snapshot(self) -> Message:
        """The plan and program as plain JSON values, for :meth:`restore` in another process."""
        program = self.program
        return {
            "rig_id": self.rig_id,
            "state": [self.state.expr, self.state.pose],
            "program": None if program is None else asdict(program),
            "program_count": self._program_count,
            "times": self._times,
            "keys": self._keys,
            "horizon": self._horizon,
            "sent_until": self._sent_until,
            "chunks": self._chunks,
            "reactions": [asdict(placed) for placed in self._reactions],
            "underlay": None if self._underlay is None else list(self._underlay),
        }

    def restore(self, snapshot: Message) -> None:
        """Continue from ``snapshot`` (of a channel of the same name and rig): the same frames at the same times."""
        if snapshot["rig_id"] != self.rig_id:
            raise ValueError(f"snapshot of rig {snapshot['rig_id']!r} restored on rig {self.rig_id!r}")
        self.state = State(*snapshot["state"])
        raw = snapshot["program"]
        self.program = None if raw is None else Program.from_json(raw)
        self._program_count = int(snapshot["program_count"])
        self._times, self._keys = list(snapshot["times"]), list(snapshot["keys"])
        self._horizon, self._sent_until = int(snapshot["horizon"]), int(snapshot["sent_until"])
        self._chunks = int(snapshot["chunks"])
        self._reactions = [Placed.from_json(raw) for raw in snapshot["reactions"]]
        underlay = snapshot["underlay"]
        self._underlay = None if underlay is None else (underlay[0], underlay[1], [tuple(c) for c in underlay[2]])

    # -- plan helpers -------------------------------------------------------------------

    def key_at(self, t_ms: int) -> str:
        i = bisect_right(self._times, t_ms) - 1
        return self._keys[max(i, 0)]

    def _truncate(self, t_ms: int) -> str:
        """Drop planned changes at or after ``t_ms``; return the key on screen at ``t_ms``."""
        key = self.key_at(t_ms)
        i = bisect_left(self._times, t_ms)
        del self._times[i:], self._keys[i:]
        self._horizon = t_ms
        if self._underlay is not None:
            u_from, u_until, under = self._underlay
            kept = [c for c in under if c[0] < t_ms]
            self._underlay = (u_from, min(u_until, t_ms), kept) if t_ms > u_from else None
        return key

    def _append(self, changes: list[tuple[int, str]]) -> None:
        times, keys = self._times, self._keys
        for t, key in changes:
            if key != keys[-1]:
                times.append(t)
                keys.append(key)

    def _plan_idle(self, transition_ms: int = HOME_TRANSITION_MS) -> None:
        """Plan one idle chunk from the horizon: go to ``self.state``, hold it, blink."""
        start = self._horizon
        motion = Motion(self.router, self._keys[-1], start)
        motion.goto(start, self.state, transition_ms)
        closed = self._combiner.state(self.state.expr, None, True, self.state.pose)
        if closed != self.state:
            blink = self.rig.config.blink
            self._chunks += 1
            for t, closed_for in idle_blinks(self._seed + self._chunks, IDLE_CHUNK_MS, blink):
                motion.goto(start + t, closed, blink.close_ms)
                motion.goto(start + t + closed_for, self.state, blink.open_ms)
        self._append(motion.finish(start + IDLE_CHUNK_MS)[1:])
        self._horizon = start + IDLE_CHUNK_MS

    def _frames(self, from_ms: int, until_ms: int, *, on_screen: bool = True) -> Message:
        """A ``frames`` message with the planned changes in ``[from_ms, until_ms)``, as ``[t, key]`` pairs.

        With ``on_screen``, a viewer that drops what it queued from ``from_ms`` also learns
        which frame shows at ``from_ms`` (prepended when no change falls exactly there).
        """
        times, keys = self._times, self._keys
        i = bisect_left(times, from_ms)
        j = bisect_left(times, until_ms)
        frames = [[times[k], keys[k]] for k in range(i, j)]
        if on_screen and (i == len(times) or times[i] != from_ms):
            frames.insert(0, [from_ms, keys[max(i - 1, 0)]])
        return {"type": "frames", "from_ms": from_ms, "until_ms": until_ms, "frames": frames}

    def _state_message(self, t_ms: int) -> Message:
        return {"type": "state", "expr": self.state.expr, "pose": self.state.pose, "t_ms": t_ms, "rig": self.rig_id}

    def _replan_message(self, now_ms: int, from_ms: int) -> Message:
        self._react_from(from_ms)
        until = max(self._sent_until, now_ms + self.lookahead_ms)
        while self._horizon < until:
            self._plan_idle()
        self._sent_until = until
        return self._frames(from_ms, until)

    def _base_changes(self) -> list[tuple[int, str]]:
        """The plan as it would be without reactions."""
        changes = list(zip(self._times, self._keys, strict=True))
        if self._underlay is None:
            return changes
        u_from, u_until, under = self._underlay
        i, j = bisect_left(self._times, u_from), bisect_left(self._times, u_until)
        return changes[:i] + under + changes[j:]

    def _react_from(self, from_ms: int) -> None:
        """Layer the reactions still running at ``from_ms`` over the plan from then on.

        The plan's own targets (recovered from its frames) are re-routed with each reaction's
        steps overlaid, up to the first of its endpoint frames after the last reaction has
        settled; from there the plan goes on as it was. What it was is kept (the underlay), so
        a later reaction or command overlays the program, not the reaction.
        """
        self._reactions = active = [p for p in self._reactions if p.end_ms > from_ms]
        if not active:
            return
        settled = max(p.end_ms for p in active)
        while self._horizon <= settled:
            self._plan_idle()
        base_changes = self._base_changes()
        times = [t for t, _ in base_changes]
        splice = next(
            (t for t, key in base_changes[bisect_left(times, settled) :] if self.rig.state_of_key(key) is not None),
            self._horizon,
        )
        base = plan_targets(self.rig, base_changes)
        motion = Motion(self.router, self.key_at(from_ms), from_ms)
        for target in overlay_targets(self.rig, base, active, from_ms, splice, self.state):
            motion.goto(target.t_ms, target.state, target.transition_ms)
        i = bisect_left(self._times, from_ms)
        del self._times[i:], self._keys[i:]
        self._append(motion.finish(splice))
        self._append(base_changes[bisect_left(times, splice) :])
        u_from = from_ms if self._underlay is None else min(self._underlay[0], from_ms)
        k = bisect_right(times, u_from) - 1
        under = [(u_from, base_changes[max(k, 0)][1])] + [c for c in base_changes[k + 1 :] if c[0] < splice]
        self._underlay = (u_from, splice, under)

    def _end_program(self, reason: str, t_ms: int) -> list[Message]:
        if self.program is None:
            return []
        if self.recorder is not None:
            self.recorder.program_cut(self.program.id, t_ms)
        ended = {"type": "program_end", "program_id": self.program.id, "reason": reason, "t_ms": t_ms}
        self.program = None
        return [ended]

    # -- inputs ---------------------------------------------------------------------------

    def tick(self, now_ms: int) -> list[Message]:
        """Advance the clock: end a finished program and top up the lookahead window.

        A top-up goes out every ``batch_ms`` when it carries changes, and at least every
        ``heartbeat_ms`` even when empty, so a viewer can tell a still character from a
        stalled server.
        """
        out: list[Message] = []
        if self.recorder is not None:
            self.recorder.capture(self._times, self._keys, now_ms)
        if self.program is not None and now_ms >= self.program.end_ms:
            end_ms = self.program.end_ms
            out += self._end_program("finished", end_ms)
            out.append(self._state_message(end_ms))  # the channel now holds the program's final state
        until = now_ms + self.lookahead_ms
        if until - self._sent_until >= self.batch_ms:
            while self._horizon < until:
                self._plan_idle()
            message = self._frames(self._sent_until, until, on_screen=False)
            if message["frames"] or until - self._sent_until >= self.heartbeat_ms:
                self._sent_until = until
                out.append(message)
        # Keep the plan short: forget changes well before now (one stays for key_at).
        cut = bisect_right(self._times, now_ms - 2 * self.lookahead_ms) - 1
        if cut > 64:
            del self._times[:cut], self._keys[:cut]
        return out

    def join(self, now_ms: int, role: str) -> list[Message]:
        """Messages that bring a new viewer up to date: hello, frames from now, the program."""
        size = self.rig.config.size
        out: list[Message] = [
            {
                "type": "hello",
                "protocol": PROTOCOL_VERSION,
                "channel": self.name,
                "role": role,
                "server_time_ms": now_ms,
                "frame_size": list(size) if size else None,
                "lookahead_ms": self.lookahead_ms,
                "batch_ms": self.batch_ms,
                "heartbeat_ms": self.heartbeat_ms,
                "state": {"expr": self.state.expr, "pose": self.state.pose},
                "program": None if self.program is None else self.program.to_json(),
                "rig": self.rig.describe(self.rig_id),
            }
        ]
        while self._horizon < max(self._sent_until, now_ms + 1):
            self._plan_idle()
        out.append(self._frames(now_ms, max(self._sent_until, now_ms + 1)))
        if self.program is not None:
            out.append({"type": "program_start", "program": self.program.to_json(), "server_time_ms": now_ms})
            out += self.program.audio_messages(now_ms)
        return out

    def set(self, now_ms: int, expr: str | None, pose: str | None, transition_ms: int) -> tuple[Message, list[Message]]:
        """Head for ``expr``/``pose`` from now + lead; a running program ends (``replaced``)."""
        if expr is not None and expr not in self.rig.expressions:
            raise CommandError(f"expr: unknown expression {expr!r}{suggest(expr, self.rig.expressions)}")
        if pose is not None and pose not in self.rig.poses:
            raise CommandError(f"pose: unknown pose {pose!r}{suggest(pose, self.rig.poses)}")
        target = State(expr or self.state.expr, pose or self.state.pose)
        t = now_ms + self.lead_ms
        self.router.leg_from_key(self.key_at(t), target)  # raises UnreachableError before any change
        out = self._end_program("replaced", t)
        self._truncate(t)
        self.state = target
        self._plan_idle(transition_ms)
        out.append(self._replan_message(now_ms, t))
        state = self._state_message(t + transition_ms)
        out.append(state)
        return {k: state[k] for k in ("expr", "pose", "t_ms")}, out

    def play(
        self,
        now_ms: int,
        schedule: Schedule,
        *,
        timeline_id: str | None = None,
        audio: AudioCue | None = None,
        at_ms: int | None = None,
    ) -> tuple[Program, list[Message]]:
        """Place ``schedule`` on the clock at ``at_ms`` (or as soon as possible) and plan it."""
        t = max(now_ms + self.lead_ms, at_ms or 0)
        out = self._end_program("replaced", t)
        start, arrive_ms = self._place(t, schedule)
        program = self.program = self._new_program(start, schedule, timeline_id=timeline_id, audio=audio)
        self._recorded(program)
        out.append(self._replan_message(now_ms, t))
        out.append({"type": "program_start", "program": program.to_json(), "server_time_ms": now_ms})
        audio_message = program.audio_message()
        if audio_message is not None:
            out.append(audio_message)
        out.append(self._state_message(start + arrive_ms))
        return program, out

    def speak(
        self, now_ms: int, schedule: Schedule, audio_url: str, audio_ms: int, *, stream: str
    ) -> tuple[Program, list[Message]]:
        """Say one segment of ``stream``: its ``schedule`` (lip-sync and face) with its audio.

        While the stream's previous segment still plays, this one starts where that one's audio
        ends, so the voice runs on without a gap (the previous segment's closing hold is cut); if it
        comes later but within that hold, it starts as soon as possible in the same program;
        otherwise it starts a new program. The program's ``segments``
        gain the audio; viewers get the re-plan, ``program_start`` (again, same id, when it grows)
        and an ``audio`` message with its ``segment`` number.
        """
        earliest = now_ms + self.lead_ms
        current = self.program
        # Within the previous segment's closing hold the program grows, late (with a gap) if it must.
        grows = current is not None and current.stream == stream and current.end_ms >= earliest
        t = max(current.speech_end_ms, earliest) if grows and current is not None else earliest
        out = [] if grows else self._end_program("replaced", t)
        # Running on, the voice cannot wait for a lead-in: the segment's first frame follows at once.
        start, arrive_ms = self._place(t, schedule, lead_in=not grows)
        if grows and current is not None:
            cue = AudioCue(audio_url, start - current.start_ms, audio_ms)
            end = start + schedule.duration_ms
            program = replace(current, duration_ms=end - current.start_ms, segments=(*current.segments, cue))
        else:
            program = self._new_program(start, schedule, stream=stream, segments=(AudioCue(audio_url, 0, audio_ms),))
        self.program = program
        self._recorded(program)
        out.append(self._replan_message(now_ms, t))
        out.append({"type": "program_start", "program": program.to_json(), "server_time_ms": now_ms})
        out.append(program.cue_message(program.segments[-1], len(program.segments) - 1))
        out.append(self._state_message(start + arrive_ms))
        return program, out

    def _new_program(self, start: int, schedule: Schedule, **fields: Any) -> Program:
        self._program_count += 1
        fields = {"timeline_id": None, "audio": None, **fields}
        return Program(f"{self.name}-{self._program_count}", start_ms=start, duration_ms=schedule.duration_ms, **fields)

    def _place(self, t: int, schedule: Schedule, lead_in: bool = True) -> tuple[int, int]:
        """Plan ``schedule`` from ``t`` (after a short route from the frame on screen to its first, with ``lead_in``).

        Returns where the schedule starts and when it arrives at its final state (from its start).
        """
        on_screen = self._truncate(t)
        first_key = schedule.key_at(0)  # after any zero-length transitions at 0
        start = t
        if lead_in and on_screen != first_key:
            first_state = self.rig.state_of_key(first_key)
            if first_state is not None:
                route = Motion(self.router, on_screen, t)
                route.goto(t, first_state, LEAD_IN_MS)
                self._append(route.finish(t + LEAD_IN_MS)[1:])
                start = t + LEAD_IN_MS
        self._append([(start + ct, key) for ct, key in schedule.changes])
        self._horizon = start + schedule.duration_ms
        # A resolved schedule ends on its final state's endpoint (resolve() completes the last
        # transition): the channel holds that state after the program and reports it as its own.
        arrive_ms, last = schedule.changes[-1]
        self.state = self.rig.state_of_key(last) or self.state
        return start, arrive_ms

    def interrupt(self, now_ms: int) -> tuple[Message, list[Message]]:
        """Cut the program short: from now + lead the face settles, mouth closed, in the state it was headed for.

        Unlike ``stop``, the face keeps the program's final expression rather than going home.
        """
        t = now_ms + self.lead_ms
        interrupted = self.program.id if self.program is not None else None
        if interrupted is None:
            return {"interrupted": None}, []
        out = self._end_program("interrupted", t)
        self._truncate(t)
        self._plan_idle(INTERRUPT_MS)
        out.append(self._replan_message(now_ms, t))
        out.append(self._state_message(t + INTERRUPT_MS))
        return {"interrupted": interrupted}, out

    def react(self, now_ms: int, reaction: Reaction) -> tuple[Message, list[Message]]:
        """Layer ``reaction`` over whatever plays, from now + lead: the program (and its mouth)
        goes on; the head, eyes or upper face do the reaction and come back to the program's."""
        placed = Placed(now_ms + self.lead_ms, reaction)
        self._reactions.append(placed)
        try:
            out = [self._replan_message(now_ms, placed.start_ms)]
        except UnreachableError:  # raised before the plan changes
            self._reactions.remove(placed)
            raise
        return {"reaction": reaction.kind, "t_ms": placed.start_ms, "end_ms": placed.end_ms}, out

    def switch_rig(self, now_ms: int, rig: Rig, rig_id: str) -> tuple[Message, list[Message]]:
        """Play ``rig`` from now + lead: a running program ends (``replaced``), the plan restarts.

        The character keeps its expression and pose where the new rig has them, else takes the
        new rig's home ones. Viewers get a ``rig`` message, then frames of the new rig from the
        switch on (replacing what they queued) and the new state.
        """
        t = now_ms + self.lead_ms
        out = self._end_program("replaced", t)
        if self.recorder is not None:  # a recording plays one rig: it ends where this one takes over
            self.recorder.capture(self._times, self._keys, t)
            self.recorder.end(t, "rig")
        self._use_rig(rig, rig_id)
        self._reactions, self._underlay = [], None  # another rig's poses and faces
        expr = self.state.expr if self.state.expr in rig.expressions else self.home.expr
        pose = self.state.pose if self.state.pose in rig.poses else self.home.pose
        self.state = State(expr, pose)
        # The old rig's keys mean nothing in the new one: the plan starts again (from now, so a
        # command right after this one, at the same t, still finds a frame before its t).
        self._times, self._keys = [now_ms], [rig.endpoint_key(self.state)]
        self._horizon = t
        self._plan_idle(0)
        size = rig.config.size
        out.append(
            {
                "type": "rig",
                "rig": self.rig.describe(self.rig_id),
                "frame_size": list(size) if size else None,
                "t_ms": t,
            }
        )
        out.append(self._replan_message(now_ms, t))
        state = self._state_message(t)
        out.append(state)
        return {"rig": rig_id, **{k: state[k] for k in ("expr", "pose", "t_ms")}}, out

    # -- recording ----------------------------------------------------------------------

    def _recorded(self, program: Program) -> None:
        if self.recorder is not None:
            self.recorder.program(program)

    def record_start(self, now_ms: int) -> Message:
        """Record what airs from now on. Raises :class:`Conflict` while a recording runs."""
        if self.recorder is not None:
            raise Conflict(f"channel {self.name!r} is already recording (since server time {self.recorder.start_ms})")
        self.recorder = Recorder(now_ms, self.rig_id, self.key_at(now_ms))
        if self.program is not None:
            self.recorder.program(self.program)
        return {"recording": True, "start_ms": now_ms}

    def record_stop(self, now_ms: int) -> Recording:
        """What aired since :meth:`record_start`. Raises :class:`Conflict` when not recording."""
        recorder = self.recorder
        if recorder is None:
            raise Conflict(f"channel {self.name!r} is not recording: start a recording first")
        recorder.capture(self._times, self._keys, now_ms)
        self.recorder = None
        return recorder.finish(now_ms)

    def stop(self, now_ms: int) -> tuple[Message, list[Message]]:
        """End the program (if any) and return to the home expression at the current pose.

        With no program and the character already headed home, nothing changes and no
        message is sent.
        """
        t = now_ms + self.lead_ms
        stopped = self.program.id if self.program is not None else None
        target = State(self.home.expr, self.state.pose)
        if stopped is None and target == self.state:
            return {"stopped": None}, []
        out = self._end_program("stopped", t)
        self._truncate(t)
        self.state = target
        self._plan_idle()
        out.append(self._replan_message(now_ms, t))
        out.append(self._state_message(t + HOME_TRANSITION_MS))
        return {"stopped": stopped}, out
