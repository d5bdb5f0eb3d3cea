"""Reactions layered over a channel's program: the mouth goes on, head/eyes/face react and come back."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.core.channel import Channel
from streamer.core.commands import React, parse_command
from streamer.core.errors import CommandError
from streamer.core.reactions import make_reaction
from streamer.core.resolve import resolve
from streamer.core.rig import Rig, RigListing, State, build_rig, parse_rig_config
from streamer.core.timeline import parse_timeline
from tests.rigs import make_rig

POSES = ["front", "nod_down", "nod_up", "tilt_left", "tilt_right"]
CONFIG: dict[str, Any] = {
    "axes": {"mouth": ["closed", "smile", "open"], "eyes": ["open", "shut", "squint"]},
    "poses": POSES,
    "expressions": {
        "neutral": {"mouth": "closed", "eyes": "open"},
        "smile": {"mouth": "smile", "eyes": "squint"},
        "talk": {"mouth": "open", "eyes": "open"},
        "talk_squint": {"mouth": "open", "eyes": "squint"},
        "blink_closed": {"mouth": "closed", "eyes": "shut"},
    },
    "base_paths": [
        {"id": "neutral_to_smile", "start": "neutral", "end": "smile"},
        {"id": "neutral_to_talk", "start": "neutral", "end": "talk"},
        {"id": "talk_to_talk_squint", "start": "talk", "end": "talk_squint"},
        {"id": "neutral_to_blink", "start": "neutral", "end": "blink_closed"},
    ],
    "blink": {"eyes": "shut"},
}


def full_rig() -> Rig:
    """Every expression can move the head (each has its own pose sequences): no detour via neutral."""
    files = {f"endpoints/{e}__{p}.png": 1 for e in CONFIG["expressions"] for p in POSES}
    dirs = [f"{bp['id']}__{p}" for bp in CONFIG["base_paths"] for p in POSES]
    dirs += [f"{e}_front_to_{e}_{p}" for e in CONFIG["expressions"] for p in POSES[1:]]
    files |= {f"sequences/{d}/{t:03d}.png": 1 for d in dirs for t in (33, 67)}
    return build_rig(parse_rig_config(CONFIG), RigListing(files=files))


RIG = full_rig()
CUE_MS = 400  # each viseme is held this long: long enough to show its endpoint frame mid-cue


def talking(duration_ms: int = 4000) -> Any:
    cues = [
        {"t_ms": t, "end_ms": t + CUE_MS, "viseme": "talk" if i % 2 == 0 else "neutral"}
        for i, t in enumerate(range(0, duration_ms, CUE_MS))
    ]
    doc = {
        "version": 1,
        "start": {"expr": "neutral", "pose": "front"},
        "tracks": {"speech": cues},
        "duration_ms": duration_ms,
        "idle": {"blink": False},
    }
    return resolve(parse_timeline(doc), RIG)


def channel() -> Channel:
    return Channel("r", RIG, now_ms=0, lookahead_ms=1500, batch_ms=250, lead_ms=100)


def state_at(ch: Channel, t_ms: int) -> State:
    state = RIG.state_of_key(ch.key_at(t_ms))
    assert state is not None, f"mid-cue at {t_ms} shows an endpoint"
    return state


def mouth(state: State) -> str:
    return RIG.axes_of(state.expr)["mouth"]


def mouth_of_key(key: str) -> str | None:
    """The mouth a frame shows: an endpoint's, or a head move's (one expression at both ends)."""
    state = RIG.state_of_key(key)
    if state is not None:
        return mouth(state)
    found = RIG.sequence_of_key(key)
    assert found is not None
    seq = found[0]
    return mouth(seq.start) if seq.start.expr == seq.end.expr else None  # a mouth in between


def test_a_nod_during_speech_moves_the_head_and_keeps_every_mouth() -> None:
    plain, reacting = channel(), channel()
    for ch in (plain, reacting):
        ch.play(0, talking())  # starts at 100
    result, sent = reacting.react(1050, make_reaction("nod", RIG))
    assert result == {"reaction": "nod", "t_ms": 1150, "end_ms": 1750}
    assert [m["type"] for m in sent] == ["frames"] and sent[0]["from_ms"] == 1150
    compared = 0
    for t in range(100, 4100, 5):
        shown, base = mouth_of_key(reacting.key_at(t)), mouth_of_key(plain.key_at(t))
        if shown is not None and base is not None:
            assert shown == base, f"the mouth at {t}"
            compared += 1 if 1150 <= t < 1750 else 0
    assert compared > 0.8 * (1750 - 1150) / 5, "the mouth is compared through most of the nod"
    poses = [RIG.state_of_key(reacting.key_at(t)) for t in range(1150, 1750, 5)]
    assert [p.pose for p in poses if p is not None and p.pose != "front"][:1] == ["nod_down"], "down first"
    assert any(p is not None and p.pose == "nod_up" for p in poses)
    assert {mouth(state_at(plain, 100 + t + CUE_MS // 2)) for t in range(0, 4000, CUE_MS)} == {"open", "closed"}
    # Before and after the reaction the plan is the program's own, frame for frame.
    assert [reacting.key_at(t) for t in range(1800, 4200, 5)] == [plain.key_at(t) for t in range(1800, 4200, 5)]
    assert [reacting.key_at(t) for t in range(0, 1150, 5)] == [plain.key_at(t) for t in range(0, 1150, 5)]


def test_an_expression_reaction_keeps_the_speech_mouth_and_is_released() -> None:
    plain, reacting = channel(), channel()
    for ch in (plain, reacting):
        ch.play(0, talking())
    reacting.react(1000, make_reaction("expression", RIG, expr="smile", duration_ms=1000))
    mids = [100 + t + CUE_MS // 2 for t in range(0, 4000, CUE_MS)]
    during = [t for t in mids if 1400 <= t <= 2100]
    for t in during:
        shown, base = state_at(reacting, t), state_at(plain, t)
        # Speaking: the smile's eyes with the open mouth; between words: the smile itself.
        assert shown.expr == ("talk_squint" if mouth(base) == "open" else "smile")
    assert state_at(reacting, 2700) == state_at(plain, 2700), "released"


def test_a_blink_while_idle_closes_the_eyes_and_opens_them_again() -> None:
    ch = channel()
    ch.tick(0)
    ch.react(1000, make_reaction("blink", RIG))
    blink = RIG.config.blink
    assert state_at(ch, 1100 + blink.close_ms + 5) == State("blink_closed", "front")
    assert state_at(ch, 1100 + blink.close_ms + blink.closed_ms + blink.open_ms + 1) == State("neutral", "front")


def test_a_command_during_a_reaction_keeps_the_reaction_going() -> None:
    ch = channel()
    ch.tick(0)
    ch.react(1000, make_reaction("look_away", RIG, duration_ms=2000))  # 1100 .. 3100 (+250 back)
    assert state_at(ch, 1500).pose == "tilt_left"
    ch.set(1500, "smile", None, 0)  # the face changes under the reaction
    assert state_at(ch, 2000) == State("smile", "tilt_left")
    assert state_at(ch, 3500) == State("smile", "front"), "the head comes back, the new face stays"


def test_late_joiners_get_the_reaction_frames() -> None:
    ch = channel()
    ch.tick(0)
    ch.react(1000, make_reaction("look_away", RIG))
    frames = ch.join(1500, "viewer")[1]
    assert frames["frames"][0] == [1500, RIG.endpoint_key(State("neutral", "tilt_left"))]


def test_reactions_need_poses_and_expressions_the_rig_has() -> None:
    front_only = make_rig()  # face_rig's poses: center, tilts, nods
    with pytest.raises(CommandError, match="expr: reaction expression needs one of"):
        make_reaction("expression", front_only, expr="grin")
    one_pose = dict(CONFIG, poses=["front"])
    files = {f"endpoints/{e}__front.png": 1 for e in CONFIG["expressions"]}
    rig = build_rig(parse_rig_config(one_pose), RigListing(files=files))
    with pytest.raises(CommandError, match="reaction nod: the rig has no pose with 'down'"):
        make_reaction("nod", rig)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "reaction: must be one of nod, shake, blink, look_away, expression"),
        ({"reaction": "wave"}, "reaction: must be one of"),
        ({"reaction": "expression"}, "expr: is required"),
        ({"reaction": "nod", "expr": "smile"}, "expr: only the reaction expression"),
        ({"reaction": "nod", "duration_ms": 500}, "duration_ms: only expression and look_away"),
        ({"reaction": "look_away", "duration_ms": 50}, r"duration_ms: must be an integer in \[100, 10000\]"),
        ({"reaction": "look_away", "direction": "behind"}, "direction: look_away takes one of"),
    ],
)
def test_bad_react_commands_name_the_field(body: dict[str, Any], error: str) -> None:
    with pytest.raises(CommandError, match=error):
        parse_command("react", body, 0)


def test_a_react_command_parses() -> None:
    body = {"reaction": "expression", "expr": "smile", "duration_ms": 1000}
    assert parse_command("react", body, 0) == React("expression", "smile", 1000, None)
