"""The live channel as a plain object: commands and ticks in, messages out (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.core.channel import Channel
from streamer.core.errors import CommandError
from streamer.core.program import AudioCue
from streamer.core.resolve import resolve
from streamer.core.rig import State
from streamer.core.timeline import parse_timeline
from tests.rigs import make_rig, tiny_config

RIG = make_rig()


def channel(now: int = 1000) -> Channel:
    return Channel("main", RIG, now_ms=now, lookahead_ms=1500, batch_ms=250, lead_ms=100)


def frames_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == "frames"]


class Queue:
    """A viewer's frame queue with the protocol's replace-from-time rule."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, str]] = []

    def apply(self, message: dict[str, Any]) -> None:
        if message["type"] != "frames":
            return
        self.frames = [f for f in self.frames if f[0] < message["from_ms"]]
        self.frames += [(t, u) for t, u in message["frames"]]

    def at(self, t: int) -> str:
        shown = [u for ts, u in self.frames if ts <= t]
        return shown[-1]


def test_join_says_hello_then_the_frame_on_screen() -> None:
    ch = channel()
    hello, frames = ch.join(1000, "viewer")
    assert hello["type"] == "hello" and hello["protocol"] == 1 and hello["server_time_ms"] == 1000
    assert hello["state"] == {"expr": "neutral", "pose": "center"}
    assert frames["frames"][0] == [1000, "endpoints/neutral__center.png"]


def test_ticks_push_frames_ahead_of_time_in_order() -> None:
    ch = channel()
    q = Queue()
    sent: list[int] = []
    q.apply(ch.tick(1000)[0])  # the first top-up starts where the join left off
    for now in range(1250, 30_000, 250):
        for m in ch.tick(now):
            for t, _ in m["frames"]:
                assert t >= now + 1500 - 250, "a frame arrived less than one batch before its time"
                sent.append(t)
            q.apply(m)
    assert sent == sorted(sent) and len(sent) > 20
    blink = "endpoints/blink_closed__center.png"
    assert blink in {u for _, u in q.frames}, "idle channels blink"


def test_idle_is_deterministic_per_channel_name() -> None:
    def blinks(name: str) -> list[int]:
        ch = Channel(name, RIG, now_ms=1000, lookahead_ms=1500, batch_ms=250, lead_ms=100)
        frames = [f for now in range(1000, 60_000, 250) for m in ch.tick(now) for f in m.get("frames", [])]
        return [t for t, u in frames if u == "endpoints/blink_closed__center.png"]

    main = blinks("main")
    assert len(main) >= 5 and blinks("main") == main  # the same name blinks at the same times
    assert blinks("studio-b") != main and blinks("main-2") != main  # another name, another rhythm


def test_set_replaces_queued_frames_from_now_plus_lead() -> None:
    ch = channel()
    q = Queue()
    for now in range(1000, 3000, 250):
        for m in ch.tick(now):
            q.apply(m)
    result, messages = ch.set(3000, "happy_soft", None, 400)
    (frames,) = frames_of(messages)
    assert frames["from_ms"] == 3100
    q.apply(frames)
    assert q.at(3100 + 400) == "endpoints/happy_soft__center.png"
    assert result == {"expr": "happy_soft", "pose": "center", "t_ms": 3500}
    assert any(m["type"] == "state" for m in messages)


def test_set_rejects_unknown_names_with_a_suggestion() -> None:
    ch = channel()
    with pytest.raises(CommandError, match="did you mean 'happy_soft'"):
        ch.set(1000, "hapy_soft", None, 300)


def test_play_places_the_schedule_on_the_clock_and_ends() -> None:
    ch = channel()
    timeline = parse_timeline(
        {
            "version": 1,
            "tracks": {"emotion": [{"t_ms": 500, "expr": "happy_big", "transition_ms": 400}]},
            "duration_ms": 2000,
            "idle": {"blink": False},
        }
    )
    schedule = resolve(timeline, RIG)
    program, messages = ch.play(5000, schedule, timeline_id="t", audio=AudioCue("/audio/a.wav", 0, 1800))
    assert program.start_ms == 5100  # now + lead; already on the first frame, so no lead-in
    q = Queue()
    for m in messages:
        q.apply(m)
    for t in range(0, 2000, 37):
        if 5100 + t < 5000 + 1500:
            assert q.at(5100 + t) == schedule.key_at(t), "live frames are the schedule's frames"
    kinds = [m["type"] for m in messages]
    assert kinds == ["frames", "program_start", "audio", "state"]
    audio = messages[2]
    assert audio["start_ms"] == 5100 and audio["url"] == "/audio/a.wav"
    # the state the program ends in, and when the character gets there (its last change)
    assert messages[3] == {"type": "state", "expr": "happy_big", "pose": "center", "t_ms": 5100 + 850, "rig": "default"}
    later = [m for now in range(5000, 8000, 250) for m in ch.tick(now) if m["type"] != "frames"]
    assert later == [
        {"type": "program_end", "program_id": program.id, "reason": "finished", "t_ms": 7100},
        {"type": "state", "expr": "happy_big", "pose": "center", "t_ms": 7100, "rig": "default"},
    ]


def test_late_joiner_gets_the_current_frame_and_the_audio_cue() -> None:
    ch = channel()
    timeline = parse_timeline(
        {"version": 1, "tracks": {"emotion": [{"t_ms": 0, "expr": "concerned"}]}, "duration_ms": 4000}
    )
    program, _ = ch.play(1000, resolve(timeline, RIG), audio=AudioCue("/audio/a.wav", 250, 3000))
    for now in range(1000, 2600, 250):
        ch.tick(now)
    messages = ch.join(2600, "viewer")
    assert [m["type"] for m in messages] == ["hello", "frames", "program_start", "audio"]
    assert messages[0]["program"]["id"] == program.id
    assert messages[1]["frames"][0] == [2600, ch.key_at(2600)]
    assert messages[3]["start_ms"] == program.start_ms + 250


def test_play_during_a_program_replaces_it() -> None:
    ch = channel()
    schedule = resolve(parse_timeline({"version": 1, "duration_ms": 3000}), RIG)
    first, _ = ch.play(1000, schedule)
    _, messages = ch.play(1500, schedule)
    assert messages[0] == {"type": "program_end", "program_id": first.id, "reason": "replaced", "t_ms": 1600}


def test_stop_returns_home_and_says_which_program_stopped() -> None:
    ch = channel()
    timeline = parse_timeline(
        {"version": 1, "tracks": {"emotion": [{"t_ms": 0, "expr": "happy_big"}]}, "duration_ms": 9000}
    )
    program, _ = ch.play(1000, resolve(timeline, RIG))
    result, messages = ch.stop(3000)
    assert result == {"stopped": program.id}
    assert messages[0]["reason"] == "stopped"
    q = Queue()
    for m in messages:
        q.apply(m)
    assert q.at(3100 + 2000) == "endpoints/neutral__center.png"
    assert messages[-1] == {"type": "state", "expr": "neutral", "pose": "center", "t_ms": 3100 + 300, "rig": "default"}
    assert ch.stop(4000) == ({"stopped": None}, [])  # already home: nothing to do


def test_stop_without_a_program_returns_to_neutral_at_the_current_pose() -> None:
    ch = channel()
    q = Queue()
    for m in ch.join(1000, "viewer"):
        q.apply(m)
    _, messages = ch.set(1000, "happy_big", "tilt_left_small", 300)
    for m in messages:
        q.apply(m)
    result, messages = ch.stop(3000)
    assert result == {"stopped": None}
    assert [m["type"] for m in messages] == ["frames", "state"]
    assert messages[-1] == {
        "type": "state",
        "expr": "neutral",
        "pose": "tilt_left_small",
        "t_ms": 3400,
        "rig": "default",
    }
    for m in messages:
        q.apply(m)
    assert q.at(3099) == "endpoints/happy_big__tilt_left_small.png"
    assert q.at(3400) == "endpoints/neutral__tilt_left_small.png"
    assert ch.state == State("neutral", "tilt_left_small")
    assert ch.join(3500, "viewer")[0]["state"] == {"expr": "neutral", "pose": "tilt_left_small"}


def test_hello_state_during_a_program_is_the_state_the_program_ends_in() -> None:
    ch = channel()
    timeline = parse_timeline(
        {
            "version": 1,
            "tracks": {
                "emotion": [{"t_ms": 0, "expr": "happy_big"}, {"t_ms": 1000, "expr": "concerned"}],
                "pose": [{"t_ms": 500, "pose": "nod_down_small"}],
            },
            "duration_ms": 3000,
        }
    )
    ch.play(1000, resolve(timeline, RIG))
    hello = ch.join(1500, "viewer")[0]
    assert hello["program"] is not None
    assert hello["state"] == {"expr": "concerned", "pose": "nod_down_small"}


def test_an_idle_channel_sends_a_frames_message_at_least_every_heartbeat() -> None:
    ch = channel()
    join = ch.join(1000, "viewer")[1]
    assert ch.heartbeat_ms == 1000
    assert join["until_ms"] > join["from_ms"] == 1000
    covered_until, last_sent = join["until_ms"], 1000
    for now in range(1000, 40_000, 250):
        for m in frames_of(ch.tick(now)):
            # top-ups cover the timeline without gaps: each starts where the last ended (or before)
            assert m["from_ms"] <= covered_until < m["until_ms"]
            covered_until, last_sent = m["until_ms"], now
        assert now - last_sent <= 1000, f"silent from {last_sent} to {now}"
        assert covered_until >= now + 1500 - 1000, "the known window never runs short"


def test_lead_in_routes_to_the_programs_first_frame_without_a_pop() -> None:
    ch = channel()
    ch.set(1000, "concerned", "tilt_left_small", 300)
    timeline = parse_timeline({"version": 1, "start": {"expr": "neutral", "pose": "center"}, "duration_ms": 1000})
    program, messages = ch.play(3000, resolve(timeline, RIG))
    assert program.start_ms == 3100 + 200
    keys = [u for _, u in frames_of(messages)[0]["frames"]]
    assert keys[-1] == "endpoints/neutral__center.png"
    assert any("neutral_center_to_neutral_tilt_left_small" in k for k in keys)


def test_top_ups_carry_every_planned_change_once_even_on_batch_boundaries() -> None:
    ch = channel()
    timeline = parse_timeline(
        {
            "version": 1,
            "tracks": {
                "speech": [{"t_ms": t, "end_ms": t + 50, "viseme": "speaking_ah"} for t in range(100, 9000, 125)]
            },
            "duration_ms": 9500,
            "idle": {"blink": False},
        }
    )
    program, messages = ch.play(1000, resolve(timeline, RIG))
    planned = [(t, k) for t, k in zip(ch._times, ch._keys, strict=True) if program.start_ms <= t < program.end_ms]
    (replan,) = frames_of(messages)
    on_screen = replan["frames"][0]
    assert on_screen == [1100, "endpoints/neutral__center.png"]  # no change exactly at from_ms
    seen: list[tuple[int, str]] = [(t, u) for t, u in replan["frames"][1:]]
    for now in range(1000, 12_000, 250):  # batch boundaries land on 250 ms multiples
        for m in frames_of(ch.tick(now)):
            seen += [(t, u) for t, u in m["frames"]]
    in_window = [(t, u) for t, u in seen if program.start_ms <= t < program.end_ms]
    assert in_window == planned
    assert len(in_window) == len(set(in_window)), "no change is sent twice"


TINY = make_rig(tiny_config())


def test_switching_rigs_replans_from_now_plus_lead_with_the_new_rigs_frames() -> None:
    ch = channel(1000)
    queue = Queue()
    for m in ch.join(1000, "viewer") + ch.tick(1250):
        queue.apply(m)
    program, _ = ch.play(1300, resolve(parse_timeline({"version": 1, "duration_ms": 5000}), RIG))
    result, messages = ch.switch_rig(1400, TINY, "tiny")
    kinds = [m["type"] for m in messages]
    assert kinds == ["program_end", "rig", "frames", "state"]
    assert messages[0] == {"type": "program_end", "program_id": program.id, "reason": "replaced", "t_ms": 1500}
    rig = messages[1]
    assert rig == {
        "type": "rig",
        "rig": {
            "id": "tiny",
            "name": TINY.config.name,
            "size": None,
            "expressions": list(TINY.expressions),
            "poses": ["front", "side"],
        },
        "frame_size": None,
        "t_ms": 1500,
    }
    # neutral exists in both rigs, the pose does not: the new rig's first pose
    assert result == {"rig": "tiny", "expr": "neutral", "pose": "front", "t_ms": 1500}
    assert messages[3] == {"type": "state", "expr": "neutral", "pose": "front", "t_ms": 1500, "rig": "tiny"}
    for m in messages:
        queue.apply(m)
    assert queue.at(1499) in RIG.file_sizes and queue.at(1499) not in TINY.file_sizes
    assert queue.at(1500) == "endpoints/neutral__front.png"
    after = [k for t, k in queue.frames if t >= 1500]
    assert after and all(k in TINY.file_sizes for k in after)
    for m in ch.tick(3000):
        queue.apply(m)
    assert all(k in TINY.file_sizes for t, k in queue.frames if t >= 1500)
    assert ch.program is None and ch.rig_id == "tiny"
    # commands now speak the new rig, right after the switch too (same lead, same t)
    _, messages = ch.set(1400, "smile", None, 200)
    assert messages[-1]["rig"] == "tiny" and messages[-1]["expr"] == "smile"
    with pytest.raises(CommandError, match="happy_soft"):
        ch.set(1500, "happy_soft", None, 200)
    hello = ch.join(1600, "viewer")[0]
    assert hello["rig"]["id"] == "tiny"


def test_switching_rigs_keeps_the_expression_and_pose_the_new_rig_has() -> None:
    ch = channel(1000)
    ch.set(1000, "happy_soft", "tilt_left_small", 0)
    result, _ = ch.switch_rig(2000, make_rig(), "twin")
    assert (result["expr"], result["pose"]) == ("happy_soft", "tilt_left_small")
    result, _ = ch.switch_rig(2100, TINY, "tiny")
    assert (result["expr"], result["pose"]) == ("neutral", "front")
