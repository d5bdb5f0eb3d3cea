"""Timelines: parse, validate and serialize the v1 format and face_rig keyframe lists (pure).

Times are integer milliseconds. Every error is a :class:`TimelineError` naming the field and
value; nothing is silently fixed (unsorted or overlapping items are rejected, not sorted).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamer.core.errors import TimelineError
from streamer.core.jsontext import loads as loads  # re-exported: the parser callers know
from streamer.core.keys import is_valid_key
from streamer.core.rig import Rig, State, suggest

MAX_DURATION_MS = 3_600_000  # one hour
MAX_ITEMS = 250_000  # all tracks together; an hour of dense lip-sync is about 40,000
MAX_TRANSITION_MS = 60_000
DEFAULT_TRANSITION_MS = 300  # face_rig keyframes without transition_duration_ms
TAIL_MS = 1000  # how long a timeline without duration_ms holds after its last item


@dataclass(frozen=True)
class EmotionKey:
    t_ms: int
    expr: str
    transition_ms: int = DEFAULT_TRANSITION_MS


@dataclass(frozen=True)
class PoseKey:
    t_ms: int
    pose: str
    transition_ms: int = DEFAULT_TRANSITION_MS


@dataclass(frozen=True)
class SpeechCue:
    """A mouth shape held from ``t_ms`` to ``end_ms``; ``viseme`` is a rig expression."""

    t_ms: int
    end_ms: int
    viseme: str
    phoneme: str | None = None
    word: str | None = None
    transition_ms: int | None = None


@dataclass(frozen=True)
class WordSpan:
    t_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class BlinkCue:
    t_ms: int
    duration_ms: int | None = None


@dataclass(frozen=True)
class FrameCue:
    """Show the frame ``key`` from ``t_ms`` (a recorded timeline: frames as they aired)."""

    t_ms: int
    key: str


@dataclass(frozen=True)
class AudioRef:
    id: str
    offset_ms: int = 0


@dataclass(frozen=True)
class Timeline:
    """A validated timeline. ``source`` is ``"v1"`` or ``"face_rig"`` (for error labels)."""

    start: State = State("neutral", "center")
    emotion: tuple[EmotionKey, ...] = ()
    speech: tuple[SpeechCue, ...] = ()
    pose: tuple[PoseKey, ...] = ()
    words: tuple[WordSpan, ...] = ()
    blinks: tuple[BlinkCue, ...] = ()
    frames: tuple[FrameCue, ...] = ()  # when given, the schedule itself (no other face tracks)
    audio: AudioRef | None = None
    idle_blink: bool = True
    seed: int = 0
    duration: int | None = None
    source: str = "v1"
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> int:
        """``duration_ms`` if given, else the end of the last item plus a short hold.

        A schedule may last longer: a transition still running at this time completes.
        """
        if self.duration is not None:
            return self.duration
        ends = [0]
        ends += [k.t_ms + k.transition_ms for k in self.emotion]
        ends += [k.t_ms + k.transition_ms for k in self.pose]
        ends += [c.end_ms for c in self.speech] + [w.end_ms for w in self.words]
        ends += [b.t_ms + (b.duration_ms or 0) for b in self.blinks]
        ends += [f.t_ms for f in self.frames[-1:]]
        return min(MAX_DURATION_MS, max(ends) + TAIL_MS)


class _Reader:
    """Field access with errors that name the path of the offending value.

    The methods are named for the JSON type they read, so annotations in here spell the builtins
    ``builtins.int`` / ``builtins.str`` (inside the class body the bare names are the methods).
    """

    def __init__(self, obj: Mapping[str, Any], where: str) -> None:
        self.obj, self.where = obj, where

    def _fail(self, key: str, what: str) -> TimelineError:
        return TimelineError(f"{self.where}.{key}: {what}" if self.where else f"{key}: {what}")

    def int(
        self,
        key: builtins.str,
        default: builtins.int | None = None,
        lo: builtins.int = 0,
        hi: builtins.int = MAX_DURATION_MS,
    ) -> builtins.int:
        value = self.obj.get(key, default)
        if value is None:
            raise self._fail(key, "is required")
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and not math.isfinite(value):
                raise self._fail(key, f"must be a finite integer, got {value!r}")
            raise self._fail(key, f"must be an integer number of milliseconds, got {value!r}")
        if not lo <= value <= hi:
            raise self._fail(key, f"must be in [{lo}, {hi}], got {value}")
        return value

    def opt_int(
        self, key: builtins.str, lo: builtins.int = 0, hi: builtins.int = MAX_DURATION_MS
    ) -> builtins.int | None:
        return None if self.obj.get(key) is None else self.int(key, lo=lo, hi=hi)

    def str(self, key: builtins.str, default: builtins.str | None = None, max_len: builtins.int = 200) -> builtins.str:
        value = self.obj.get(key, default)
        if value is None:
            raise self._fail(key, "is required")
        if not isinstance(value, str) or not value or len(value) > max_len:
            raise self._fail(key, f"must be a non-empty string of at most {max_len} characters, got {value!r}")
        return value

    def opt_str(self, key: builtins.str, max_len: builtins.int = 200) -> builtins.str | None:
        return None if self.obj.get(key) is None else self.str(key, max_len=max_len)


def _object(value: object, where: str) -> _Reader:
    if not isinstance(value, dict):
        raise TimelineError(f"{where}: must be an object, got {type(value).__name__}")
    return _Reader(value, where)


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TimelineError(f"{where}: must be a list, got {type(value).__name__}")
    return value


def _check_order(times: list[int], where: str, strict: bool) -> None:
    for i in range(1, len(times)):
        if times[i] < times[i - 1] or (strict and times[i] == times[i - 1]):
            raise TimelineError(
                f"{where}[{i}]: t_ms {times[i]} is not after the previous item's {times[i - 1]} (items must be sorted)"
            )


def parse_timeline(data: object) -> Timeline:
    """Parse a v1 timeline, a face_rig ``{"keyframes": [...]}`` object or a bare keyframe list."""
    if isinstance(data, list) or (isinstance(data, dict) and "keyframes" in data and "version" not in data):
        timeline = _parse_face_rig(data)
    elif isinstance(data, dict):
        timeline = _parse_v1(data)
    else:
        raise TimelineError(f"timeline: must be an object or a keyframe list, got {type(data).__name__}")
    tracks = (timeline.emotion, timeline.speech, timeline.pose, timeline.words, timeline.blinks, timeline.frames)
    count = sum(map(len, tracks))
    if count > MAX_ITEMS:
        raise TimelineError(f"timeline: {count} items is over the limit of {MAX_ITEMS}")
    last = max([0] + [c.end_ms for c in timeline.speech] + [w.end_ms for w in timeline.words])
    if timeline.duration is not None and last > timeline.duration:
        raise TimelineError(f"duration_ms: {timeline.duration} ends before the last speech or word ({last})")
    if timeline.duration is not None:
        starts = {
            "emotion": [k.t_ms for k in timeline.emotion],
            "pose": [k.t_ms for k in timeline.pose],
            "blink": [b.t_ms for b in timeline.blinks],
            "frames": [f.t_ms for f in timeline.frames],
        }
        for track, times in starts.items():
            late = next((i for i, t in enumerate(times) if t > timeline.duration), None)
            if late is not None:
                raise TimelineError(
                    f"tracks.{track}[{late}]: t_ms {times[late]} is after duration_ms {timeline.duration}"
                )
    return timeline


def _parse_v1(data: dict[str, Any]) -> Timeline:
    top = _Reader(data, "")
    version = data.get("version")
    if isinstance(version, bool) or version != 1:  # True == 1 in Python, but not in the format
        raise TimelineError(f"version: unsupported timeline version {version!r} (expected 1)")
    start = _object(data.get("start", {}), "start")
    start_state = State(start.str("expr", "neutral"), start.str("pose", "center"))
    tracks = _object(data.get("tracks", {}), "tracks")
    unknown = set(tracks.obj) - {"emotion", "speech", "pose", "words", "blink", "frames"}
    if unknown:
        raise TimelineError(
            f"tracks: unknown track {sorted(unknown)[0]!r} (known: emotion, speech, pose, words, blink, frames)"
        )

    emotion: list[EmotionKey] = []
    for i, raw in enumerate(_list(tracks.obj.get("emotion"), "tracks.emotion")):
        r = _object(raw, f"tracks.emotion[{i}]")
        emotion.append(
            EmotionKey(
                r.int("t_ms"), r.str("expr"), r.int("transition_ms", DEFAULT_TRANSITION_MS, hi=MAX_TRANSITION_MS)
            )
        )
    _check_order([k.t_ms for k in emotion], "tracks.emotion", strict=True)

    pose: list[PoseKey] = []
    for i, raw in enumerate(_list(tracks.obj.get("pose"), "tracks.pose")):
        r = _object(raw, f"tracks.pose[{i}]")
        pose.append(
            PoseKey(r.int("t_ms"), r.str("pose"), r.int("transition_ms", DEFAULT_TRANSITION_MS, hi=MAX_TRANSITION_MS))
        )
    _check_order([k.t_ms for k in pose], "tracks.pose", strict=True)

    speech: list[SpeechCue] = []
    for i, raw in enumerate(_list(tracks.obj.get("speech"), "tracks.speech")):
        r = _object(raw, f"tracks.speech[{i}]")
        cue = SpeechCue(
            r.int("t_ms"),
            r.int("end_ms"),
            r.str("viseme"),
            r.opt_str("phoneme", 16),
            r.opt_str("word"),
            r.opt_int("transition_ms", hi=MAX_TRANSITION_MS),
        )
        if cue.end_ms <= cue.t_ms:
            raise TimelineError(f"tracks.speech[{i}]: end_ms {cue.end_ms} must be after t_ms {cue.t_ms}")
        if speech and cue.t_ms < speech[-1].end_ms:
            raise TimelineError(
                f"tracks.speech[{i}]: starts at {cue.t_ms} before the previous cue ends at"
                f" {speech[-1].end_ms} (overlapping speech)"
            )
        speech.append(cue)

    words: list[WordSpan] = []
    for i, raw in enumerate(_list(tracks.obj.get("words"), "tracks.words")):
        r = _object(raw, f"tracks.words[{i}]")
        word = WordSpan(r.int("t_ms"), r.int("end_ms"), r.str("text", max_len=500))
        if word.end_ms < word.t_ms:
            raise TimelineError(f"tracks.words[{i}]: end_ms {word.end_ms} is before t_ms {word.t_ms}")
        words.append(word)
    _check_order([w.t_ms for w in words], "tracks.words", strict=False)

    blinks: list[BlinkCue] = []
    for i, raw in enumerate(_list(tracks.obj.get("blink"), "tracks.blink")):
        r = _object(raw, f"tracks.blink[{i}]")
        blinks.append(BlinkCue(r.int("t_ms"), r.opt_int("duration_ms", hi=10_000)))
    _check_order([b.t_ms for b in blinks], "tracks.blink", strict=True)

    frames = _parse_frames(tracks.obj.get("frames"))
    if frames:
        face = next((name for name in ("emotion", "speech", "pose", "blink") if tracks.obj.get(name)), None)
        if face is not None:
            raise TimelineError(
                f"tracks.frames: a timeline of frames shows them as they are; it cannot also have tracks.{face}"
            )

    audio = None
    if data.get("audio") is not None:
        a = _object(data["audio"], "audio")
        audio_id = a.str("id")
        if not is_valid_key(audio_id) or "/" in audio_id:
            raise TimelineError(f"audio.id: invalid audio id {audio_id!r}")
        audio = AudioRef(audio_id, a.int("offset_ms", 0, lo=-MAX_DURATION_MS))

    idle = _object(data.get("idle", {}), "idle")
    blink_on = idle.obj.get("blink", True)
    if not isinstance(blink_on, bool):
        raise TimelineError(f"idle.blink: must be true or false, got {blink_on!r}")
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise TimelineError("meta: must be an object")
    return Timeline(
        start=start_state,
        emotion=tuple(emotion),
        speech=tuple(speech),
        pose=tuple(pose),
        words=tuple(words),
        blinks=tuple(blinks),
        frames=frames,
        audio=audio,
        idle_blink=blink_on and not frames,
        seed=idle.int("seed", 0, hi=2**31 - 1),
        duration=top.opt_int("duration_ms", lo=1),
        meta=meta,
    )


def _parse_frames(raw: object) -> tuple[FrameCue, ...]:
    frames: list[FrameCue] = []
    for i, item in enumerate(_list(raw, "tracks.frames")):
        r = _object(item, f"tracks.frames[{i}]")
        key = r.str("key", max_len=1000)
        if not is_valid_key(key):
            raise TimelineError(f"tracks.frames[{i}].key: invalid frame key {key[:80]!r}")
        frames.append(FrameCue(r.int("t_ms"), key))
    _check_order([f.t_ms for f in frames], "tracks.frames", strict=False)
    if frames and frames[0].t_ms != 0:
        raise TimelineError(f"tracks.frames[0]: t_ms must be 0 (the frame shown from the start), got {frames[0].t_ms}")
    return tuple(frames)


def _parse_face_rig(data: object) -> Timeline:
    raw_list = data["keyframes"] if isinstance(data, dict) else data
    keyframes = _list(raw_list, "keyframes")
    emotion: list[EmotionKey] = []
    pose: list[PoseKey] = []
    start = State("neutral", "center")
    last_t = -1
    for i, raw in enumerate(keyframes):
        where = f"keyframe {i}"
        if not isinstance(raw, dict):
            raise TimelineError(f"{where}: must be an object, got {type(raw).__name__}")
        r = _Reader(raw, where)
        t = r.int("time_ms")
        if t < last_t:
            raise TimelineError(
                f"{where}: time_ms {t} is before the previous keyframe's {last_t} (keyframes must be sorted)"
            )
        last_t = t
        ms = r.int("transition_duration_ms", DEFAULT_TRANSITION_MS, hi=MAX_TRANSITION_MS)
        expr = r.opt_str("target_expr")
        pose_name = r.opt_str("target_pose")
        if expr is None and pose_name is None:
            raise TimelineError(f"{where}: needs target_expr or target_pose")
        prev_expr = emotion[-1].expr if emotion else start.expr
        prev_pose = pose[-1].pose if pose else start.pose
        if i == 0 and t == 0:
            start = State(expr or start.expr, pose_name or start.pose)
        # One entry per keyframe in both tracks, so track index i is keyframe i in errors.
        emotion.append(EmotionKey(t, expr or prev_expr, ms))
        pose.append(PoseKey(t, pose_name or prev_pose, ms))
    _check_order([k.t_ms for k in emotion], "keyframes", strict=True)
    return Timeline(start=start, emotion=tuple(emotion), pose=tuple(pose), idle_blink=False, source="face_rig")


def check_against_rig(timeline: Timeline, rig: Rig) -> None:
    """Raise :class:`TimelineError` if the timeline names an expression or pose ``rig`` lacks."""
    face_rig = timeline.source == "face_rig"

    def label(track: str, i: int) -> str:
        return f"keyframe {i}" if face_rig else f"tracks.{track}[{i}]"

    def need_expr(name: str, where: str) -> None:
        if name not in rig.expressions:
            raise TimelineError(f"{where}: unknown expression {name!r}{suggest(name, rig.expressions)}")

    def need_pose(name: str, where: str) -> None:
        if name not in rig.poses:
            raise TimelineError(f"{where}: unknown pose {name!r}{suggest(name, rig.poses)}")

    def need_start() -> None:
        need_expr(timeline.start.expr, "start.expr")
        need_pose(timeline.start.pose, "start.pose")

    # face_rig documents have no "start": theirs comes from keyframe 0, so name the keyframe.
    if not face_rig:
        need_start()
    for i, e in enumerate(timeline.emotion):
        need_expr(e.expr, label("emotion", i))
    for i, p in enumerate(timeline.pose):
        need_pose(p.pose, label("pose", i))
    for i, s in enumerate(timeline.speech):
        need_expr(s.viseme, label("speech", i))
    for i, f in enumerate(timeline.frames):
        if not rig.has_key(f.key):
            raise TimelineError(f"tracks.frames[{i}].key: the rig has no frame {f.key[:120]!r}")
    if face_rig:
        need_start()


def timeline_to_json(timeline: Timeline) -> dict[str, Any]:
    """The v1 JSON document of ``timeline`` (face_rig input comes out as v1)."""
    doc: dict[str, Any] = {
        "version": 1,
        "start": {"expr": timeline.start.expr, "pose": timeline.start.pose},
        "tracks": {
            "emotion": [{"t_ms": k.t_ms, "expr": k.expr, "transition_ms": k.transition_ms} for k in timeline.emotion],
            "speech": [
                {
                    k: v
                    for k, v in (
                        ("t_ms", c.t_ms),
                        ("end_ms", c.end_ms),
                        ("viseme", c.viseme),
                        ("phoneme", c.phoneme),
                        ("word", c.word),
                        ("transition_ms", c.transition_ms),
                    )
                    if v is not None
                }
                for c in timeline.speech
            ],
            "pose": [{"t_ms": k.t_ms, "pose": k.pose, "transition_ms": k.transition_ms} for k in timeline.pose],
            "words": [{"t_ms": w.t_ms, "end_ms": w.end_ms, "text": w.text} for w in timeline.words],
            "blink": [
                {"t_ms": b.t_ms, **({"duration_ms": b.duration_ms} if b.duration_ms is not None else {})}
                for b in timeline.blinks
            ],
        },
        "idle": {"blink": timeline.idle_blink, "seed": timeline.seed},
    }
    if timeline.frames:
        doc["tracks"]["frames"] = [{"t_ms": f.t_ms, "key": f.key} for f in timeline.frames]
    if timeline.audio is not None:
        doc["audio"] = {"id": timeline.audio.id, "offset_ms": timeline.audio.offset_ms}
    if timeline.duration is not None:
        doc["duration_ms"] = timeline.duration
    if timeline.meta:
        doc["meta"] = dict(timeline.meta)
    return doc
