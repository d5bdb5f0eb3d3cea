"""A channel restored from a snapshot in another process continues the same plan."""

from __future__ import annotations

import json

import pytest

from streamer.core.channel import Channel
from streamer.core.program import AudioCue
from streamer.core.resolve import resolve
from streamer.core.schedule import Schedule
from streamer.core.timeline import parse_timeline
from tests.core.test_channel import RIG, channel


def _program_schedule() -> Schedule:
    doc = {
        "version": 1,
        "tracks": {"emotion": [{"t_ms": 500, "expr": "happy_big", "transition_ms": 400}]},
        "duration_ms": 6000,
    }
    return resolve(parse_timeline(doc), RIG)


def test_a_restored_channel_sends_the_same_frames_and_ends_the_same_program() -> None:
    original = channel()
    program, _ = original.play(5000, _program_schedule(), timeline_id="t", audio=AudioCue("/audio/a.wav", 0, 5000))
    for now in range(5000, 7000, 250):
        original.tick(now)
    # Through JSON, as it goes through Redis.
    snapshot = json.loads(json.dumps(original.snapshot()))
    successor = Channel("main", RIG, now_ms=9999, lookahead_ms=1500, batch_ms=250, lead_ms=100)
    successor.restore(snapshot)
    assert successor.program == program and successor.state == original.state
    for now in range(7000, 40_000, 250):  # past the program's end and a whole idle chunk
        assert successor.tick(now) == original.tick(now)
    # Commands carry on too: the next program's id follows the last one.
    again, _ = successor.play(40_000, _program_schedule())
    assert again.id == "main-2"


def test_a_snapshot_of_another_rig_is_refused() -> None:
    snapshot = {**channel().snapshot(), "rig_id": "other"}
    with pytest.raises(ValueError, match="rig 'other'"):
        channel().restore(snapshot)


def test_a_reaction_running_at_the_handover_carries_on_and_a_command_during_it_goes_under_it() -> None:
    from streamer.core.reactions import make_reaction
    from tests.core import test_reactions as reactions

    def reacting() -> Channel:
        ch = reactions.channel()
        ch.play(0, reactions.talking())
        ch.react(1000, make_reaction("look_away", reactions.RIG, duration_ms=2000))
        for now in range(0, 1500, 250):
            ch.tick(now)
        return ch

    original = reacting()
    successor = Channel("r", reactions.RIG, now_ms=9999, lookahead_ms=1500, batch_ms=250, lead_ms=100)
    successor.restore(json.loads(json.dumps(original.snapshot())))
    # A second reaction and a command mid-reaction go under the running one: the same on both.
    blink = make_reaction("blink", reactions.RIG)
    assert successor.react(1550, blink) == original.react(1550, blink)
    assert successor.set(1600, "smile", None, 300) == original.set(1600, "smile", None, 300)
    for now in range(1500, 8000, 250):
        assert successor.tick(now) == original.tick(now)
