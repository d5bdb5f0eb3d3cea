"""Recording what a channel aired: its frames, audio and commands, as a timeline (pure, no I/O).

A channel never changes its plan before "now" (every command re-plans from now + lead), so
the frames that aired are the plan's changes as the clock passes them: the channel hands them
to its :class:`Recorder` on every tick. Audio is taken from the programs that played: each cue
from where it started to where it stopped (its end, the program's end or cut, or the end of
the recording). :meth:`Recording.timeline` is a v1 timeline whose ``frames`` track is those
frames from the recording's start, so it resolves (and exports) to exactly what viewers saw.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamer.core.program import Program


@dataclass(frozen=True)
class AiredAudio:
    """Audio that played: position 0 at server time ``start_ms``, heard until ``until_ms``."""

    url: str
    start_ms: int
    until_ms: int


@dataclass(frozen=True)
class Recording:
    """What a channel aired over ``[start_ms, end_ms)`` on the server clock."""

    start_ms: int
    end_ms: int
    rig_id: str
    changes: tuple[tuple[int, str], ...]  # the first at start_ms
    audio: tuple[AiredAudio, ...]
    events: tuple[dict[str, Any], ...]
    ended_by: str | None = None  # why it ended before it was stopped ("rig": the channel switched rigs)

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    def timeline(self, start: tuple[str, str], audio_id: str | None) -> dict[str, Any]:
        """The v1 timeline document: ``start`` (expr, pose) for its header, the mixed ``audio_id``."""
        doc: dict[str, Any] = {
            "version": 1,
            "start": {"expr": start[0], "pose": start[1]},
            "tracks": {"frames": [{"t_ms": t - self.start_ms, "key": key} for t, key in self.changes]},
            "idle": {"blink": False},
            "duration_ms": self.duration_ms,
            "meta": {
                "recorded": {"start_ms": self.start_ms, "end_ms": self.end_ms, "rig": self.rig_id},
                "events": list(self.events),
            },
        }
        if audio_id is not None:
            doc["audio"] = {"id": audio_id, "offset_ms": 0}
        return doc


@dataclass
class Recorder:
    """Collects a channel's aired frames, programs and commands from ``start_ms``."""

    start_ms: int
    rig_id: str
    key_on_screen: str
    changes: list[tuple[int, str]] = field(default_factory=list)
    until_ms: int = 0  # frames are taken up to here
    end_ms: int | None = None  # set when something ended the recording early
    ended_by: str | None = None
    programs: dict[str, Program] = field(default_factory=dict)
    cuts: dict[str, int] = field(default_factory=dict)  # program id -> where it was cut short
    events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.changes = [(self.start_ms, self.key_on_screen)]
        self.until_ms = self.start_ms

    def capture(self, times: list[int], keys: list[str], until_ms: int) -> None:
        """Take the plan's changes in ``[until_ms so far, until_ms)``: they have aired."""
        if self.end_ms is not None:
            until_ms = min(until_ms, self.end_ms)
        if until_ms <= self.until_ms:
            return
        # The frame on screen at the last capture (a plan that restarted may not list it again).
        i = bisect_right(times, self.until_ms) - 1
        if i >= 0 and keys[i] != self.changes[-1][1]:
            self.changes.append((self.until_ms, keys[i]))
        for k in range(max(i + 1, bisect_left(times, self.until_ms)), bisect_left(times, until_ms)):
            if keys[k] != self.changes[-1][1]:
                self.changes.append((times[k], keys[k]))
        self.until_ms = until_ms

    def end(self, t_ms: int, reason: str) -> None:
        """Nothing after ``t_ms`` belongs to this recording (the channel switched rigs)."""
        if self.end_ms is None:
            self.end_ms, self.ended_by = t_ms, reason

    def program(self, program: Program) -> None:
        """A program plays (or grew a segment)."""
        self.programs[program.id] = program

    def program_cut(self, program_id: str, t_ms: int) -> None:
        if program_id in self.programs:
            self.cuts[program_id] = t_ms

    def event(self, t_ms: int, kind: str, fields: dict[str, Any]) -> None:
        """A command the channel applied, kept in the timeline's ``meta.events`` (times from the start)."""
        self.events.append({"t_ms": t_ms - self.start_ms, "type": kind, **fields})

    def finish(self, now_ms: int) -> Recording:
        end = now_ms if self.end_ms is None else min(self.end_ms, now_ms)
        changes = [c for c in self.changes if c[0] < end] or self.changes[:1]
        audio: list[AiredAudio] = []
        for program in self.programs.values():
            stop = min(program.end_ms, self.cuts.get(program.id, program.end_ms), end)
            cues = [program.audio] if program.audio is not None else list(program.segments)
            for cue in cues:
                start = program.start_ms + cue.offset_ms
                until = min(start + cue.duration_ms, stop)
                if until > max(start, self.start_ms):
                    audio.append(AiredAudio(cue.url, start, until))
        audio.sort(key=lambda a: a.start_ms)
        return Recording(
            self.start_ms, end, self.rig_id, tuple(changes), tuple(audio), tuple(self.events), self.ended_by
        )
