"""Speech said live on a channel: segments that run on without gaps, late joiners, interrupts."""

from __future__ import annotations

from typing import Any

from streamer.core.channel import INTERRUPT_MS, Channel
from streamer.core.resolve import resolve
from streamer.core.rig import State
from streamer.core.schedule import Schedule
from streamer.core.timeline import parse_timeline
from tests.rigs import make_rig

RIG = make_rig()
AUDIO_MS, HOLD_MS = 1000, 500  # a segment's audio, and the hold a spoken timeline keeps after it


def segment(expr: str = "happy_soft") -> Schedule:
    """A spoken segment's schedule: its face (the mouth is beside the point here) and a hold."""
    doc = {
        "version": 1,
        "tracks": {"emotion": [{"t_ms": 0, "expr": expr, "transition_ms": 0}]},
        "duration_ms": AUDIO_MS + HOLD_MS,
        "idle": {"blink": False},
    }
    return resolve(parse_timeline(doc), RIG)


def channel() -> Channel:
    ch = Channel("live", RIG, now_ms=0, lookahead_ms=1500, batch_ms=250, lead_ms=100)
    ch.set(0, "happy_soft", None, 0)  # on the segments' face already: no lead-in
    return ch


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]


def test_a_segment_said_while_the_last_one_plays_starts_where_its_audio_ends() -> None:
    ch = channel()
    first, sent = ch.speak(1000, segment(), "/audio/s0.ogg", AUDIO_MS, stream="s")
    assert kinds(sent) == ["frames", "program_start", "audio", "state"]
    assert sent[2] == {
        "type": "audio",
        "program_id": first.id,
        "url": "/audio/s0.ogg",
        "start_ms": 1100,
        "duration_ms": AUDIO_MS,
        "segment": 0,
    }
    second, sent = ch.speak(1600, segment(), "/audio/s1.ogg", AUDIO_MS, stream="s")
    assert second.id == first.id and len(second.segments) == 2, "the same program grows"
    assert "program_end" not in kinds(sent)
    audio = next(m for m in sent if m["type"] == "audio")
    assert (audio["start_ms"], audio["segment"]) == (1100 + AUDIO_MS, 1), "no gap, no overlap"
    frames = next(m for m in sent if m["type"] == "frames")
    assert frames["from_ms"] == 1100 + AUDIO_MS, "the first segment's closing hold is replaced"
    assert second.end_ms == 1100 + 2 * AUDIO_MS + HOLD_MS
    assert sent[1]["program"]["segments"] == 2 and sent[1]["program"]["stream"] == "s"


def test_a_late_segment_grows_the_program_within_its_closing_hold_and_starts_a_new_one_after() -> None:
    ch = channel()
    first, _ = ch.speak(1000, segment(), "/audio/s0.ogg", AUDIO_MS, stream="s")
    late, sent = ch.speak(1100 + AUDIO_MS + 50, segment(), "/audio/s1.ogg", AUDIO_MS, stream="s")
    assert late.id == first.id and late.segments[-1].offset_ms == AUDIO_MS + 150, "as soon as possible: a gap"
    assert "program_end" not in [m["type"] for m in sent]
    after, sent = ch.speak(late.end_ms + 10, segment(), "/audio/s2.ogg", AUDIO_MS, stream="s")
    assert after.id != first.id and after.start_ms == late.end_ms + 110
    assert sent[0]["type"] == "program_end" and sent[0]["reason"] == "replaced"


def test_another_stream_replaces_the_one_playing() -> None:
    ch = channel()
    first, _ = ch.speak(1000, segment(), "/audio/a.ogg", AUDIO_MS, stream="a")
    other, sent = ch.speak(1300, segment(), "/audio/b.ogg", AUDIO_MS, stream="b")
    assert other.id != first.id and other.start_ms == 1400
    assert sent[0] == {"type": "program_end", "program_id": first.id, "reason": "replaced", "t_ms": 1400}


def test_a_viewer_joining_mid_utterance_gets_the_segments_still_to_hear() -> None:
    ch = channel()
    ch.speak(1000, segment(), "/audio/s0.ogg", AUDIO_MS, stream="s")
    ch.speak(1200, segment(), "/audio/s1.ogg", AUDIO_MS, stream="s")
    ch.speak(1400, segment(), "/audio/s2.ogg", AUDIO_MS, stream="s")
    joined = ch.join(2500, "viewer")
    audio = [(m["segment"], m["start_ms"]) for m in joined if m["type"] == "audio"]
    assert audio == [(1, 2100), (2, 3100)], "segment 0 is over by 2500; the rest are announced"
    assert next(m for m in joined if m["type"] == "program_start")["program"]["segments"] == 3


def test_an_interrupt_ends_the_program_and_settles_the_face_quickly() -> None:
    ch = channel()
    program, _ = ch.speak(1000, segment("happy_big"), "/audio/s0.ogg", AUDIO_MS, stream="s")
    result, sent = ch.interrupt(1500)
    assert result == {"interrupted": program.id}
    assert sent[0] == {"type": "program_end", "program_id": program.id, "reason": "interrupted", "t_ms": 1600}
    assert sent[-1] == {
        "type": "state",
        "expr": "happy_big",
        "pose": "center",
        "t_ms": 1600 + INTERRUPT_MS,
        "rig": "default",
    }
    assert ch.program is None
    assert ch.key_at(1600 + INTERRUPT_MS) == RIG.endpoint_key(ch.state)
    assert ch.interrupt(1700) == ({"interrupted": None}, []), "nothing to interrupt: nothing is sent"
    assert not [m for now in range(1700, 4000, 250) for m in ch.tick(now) if m["type"] == "program_end"]


def test_a_running_segment_with_another_face_still_starts_where_the_voice_ends() -> None:
    ch = channel()
    ch.speak(1000, segment("happy_soft"), "/audio/s0.ogg", AUDIO_MS, stream="s")
    program, sent = ch.speak(1200, segment("happy_big"), "/audio/s1.ogg", AUDIO_MS, stream="s")
    assert program.segments[-1].offset_ms == AUDIO_MS, "no lead-in delays the voice"
    assert ch.key_at(1100 + AUDIO_MS) == RIG.endpoint_key(State("happy_big", "center"))
