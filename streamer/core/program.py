"""A program: a schedule placed on a channel's server clock, and its audio cues (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]


@dataclass(frozen=True)
class AudioCue:
    url: str
    offset_ms: int  # from the program's start
    duration_ms: int


@dataclass(frozen=True)
class Program:
    """A schedule placed on the server clock from ``start_ms``.

    A played timeline has at most one ``audio`` cue. A spoken ``stream`` (text said live) grows
    a segment at a time: each segment's audio is a cue of ``segments``, placed where the one
    before it ends.
    """

    id: str
    timeline_id: str | None
    start_ms: int
    duration_ms: int
    audio: AudioCue | None
    stream: str | None = None
    segments: tuple[AudioCue, ...] = ()

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms

    @property
    def speech_end_ms(self) -> int:
        """When the last spoken segment's audio ends (the program's start without segments)."""
        last = self.segments[-1] if self.segments else None
        return self.start_ms + (last.offset_ms + last.duration_ms if last else 0)

    def cue_message(self, cue: AudioCue, segment: int | None) -> Message:
        message: Message = {
            "type": "audio",
            "program_id": self.id,
            "url": cue.url,
            "start_ms": self.start_ms + cue.offset_ms,
            "duration_ms": cue.duration_ms,
        }
        if segment is not None:
            message["segment"] = segment
        return message

    def audio_message(self) -> Message | None:
        return None if self.audio is None else self.cue_message(self.audio, None)

    def audio_messages(self, after_ms: int) -> list[Message]:
        """``audio`` messages for a viewer joining now: the track, or the segments not over by ``after_ms``."""
        if self.audio is not None:
            return [self.cue_message(self.audio, None)]
        return [
            self.cue_message(cue, i)
            for i, cue in enumerate(self.segments)
            if self.start_ms + cue.offset_ms + cue.duration_ms > after_ms
        ]

    def to_json(self) -> Message:
        audio = self.audio_message()
        out: Message = {
            "id": self.id,
            "timeline_id": self.timeline_id,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "duration_ms": self.duration_ms,
            "audio": None if audio is None else {k: audio[k] for k in ("url", "start_ms", "duration_ms")},
        }
        if self.stream is not None:
            out["stream"] = self.stream
            out["segments"] = len(self.segments)
        return out

    @classmethod
    def from_json(cls, raw: Message) -> Program:
        """The program back from ``dataclasses.asdict`` form (a channel's snapshot)."""
        audio = raw["audio"]
        return cls(
            **{
                **raw,
                "audio": None if audio is None else AudioCue(**audio),
                "segments": tuple(AudioCue(**cue) for cue in raw["segments"]),
            }
        )
