"""Motion and resolve: timing transitions over routes, rerouting mid-transition, head-move pace."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.core.motion import Motion
from streamer.core.resolve import FINAL_HOLD_MS, resolve
from streamer.core.rig import Rig, State
from streamer.core.routing import router_for
from streamer.core.schedule import Schedule
from streamer.core.timeline import parse_timeline
from tests.rigs import make_rig

NEUTRAL = "endpoints/neutral__center.png"
TO_HAPPY = "sequences/neutral_to_happy_soft__center/{:03d}.png"
TO_TILT = "sequences/neutral_center_to_neutral_tilt_left_small/{:03d}.png"
AH_AT_TILT = "sequences/neutral_to_speaking_ah__tilt_left_small/{:03d}.png"


@pytest.fixture(scope="module")
def rig() -> Rig:
    return make_rig()


def _resolve(rig: Rig, duration_ms: int = 5000, **tracks: Any) -> Schedule:
    data = {"version": 1, "tracks": tracks, "idle": {"blink": False}, "duration_ms": duration_ms}
    return resolve(parse_timeline(data), rig)


def _neighbours(rig: Rig) -> set[frozenset[str]]:
    pairs: set[frozenset[str]] = set()
    for seq in rig.sequences.values():
        chain = [rig.endpoint_key(seq.start), *(k for _, k in seq.frames), rig.endpoint_key(seq.end)]
        pairs.update(frozenset(p) for p in zip(chain, chain[1:], strict=False))
    return pairs


def test_transition_duration_is_spread_over_the_route_frames(rig: Rig) -> None:
    schedule = _resolve(rig, emotion=[{"t_ms": 1000, "expr": "happy_big", "transition_ms": 400}])
    # neutral -> happy_soft -> happy_big: 8 frames, 50 ms each, the first at once.
    assert [t for t, _ in schedule.changes] == [0, 1000, 1050, 1100, 1150, 1200, 1250, 1300, 1350]
    assert schedule.changes[1] == (1000, TO_HAPPY.format(25))
    assert schedule.changes[4] == (1150, "endpoints/happy_soft__center.png")
    assert schedule.changes[-1] == (1350, "endpoints/happy_big__center.png")
    assert schedule.duration_ms == 5000


def test_uneven_spreads_use_integer_milliseconds() -> None:
    rig = make_rig(tweens=2)
    schedule = _resolve(rig, emotion=[{"t_ms": 1000, "expr": "happy_soft", "transition_ms": 100}])
    assert schedule.changes == (
        (0, NEUTRAL),
        (1000, TO_HAPPY.format(33)),
        (1033, TO_HAPPY.format(67)),
        (1066, "endpoints/happy_soft__center.png"),
    )


def test_zero_transition_cuts_to_the_target(rig: Rig) -> None:
    schedule = _resolve(rig, emotion=[{"t_ms": 1000, "expr": "happy_soft", "transition_ms": 0}])
    assert [t for t, _ in schedule.changes] == [0, 1000, 1000, 1000, 1000]
    assert schedule.key_at(1000) == "endpoints/happy_soft__center.png"
    assert schedule.sample(1)[1] == "endpoints/happy_soft__center.png"


def test_reroutes_from_the_frame_on_screen(rig: Rig) -> None:
    schedule = _resolve(
        rig,
        emotion=[
            {"t_ms": 1000, "expr": "happy_soft", "transition_ms": 400},
            {"t_ms": 1150, "expr": "concerned", "transition_ms": 400},
        ],
    )
    # At 1150 the screen shows 050 (since 1100); 075 and happy_soft are never shown. The
    # route rewinds one frame at a time (a neighbour), not a jump back to neutral.
    assert schedule.changes[:4] == (
        (0, NEUTRAL),
        (1000, TO_HAPPY.format(25)),
        (1100, TO_HAPPY.format(50)),
        (1150, TO_HAPPY.format(25)),
    )
    # Six frames over 400 ms from 1150: frame k at 1150 + k * 400 // 6.
    assert schedule.changes[4:] == (
        (1216, NEUTRAL),
        (1283, "sequences/neutral_to_concerned__center/025.png"),
        (1350, "sequences/neutral_to_concerned__center/050.png"),
        (1416, "sequences/neutral_to_concerned__center/075.png"),
        (1483, "endpoints/concerned__center.png"),
    )
    assert all(key != "endpoints/happy_soft__center.png" for _, key in schedule.changes)
    pairs = _neighbours(rig)
    for (_, a), (_, b) in zip(schedule.changes, schedule.changes[1:], strict=False):
        assert frozenset((a, b)) in pairs


def test_reroute_continues_forward_when_that_is_shorter(rig: Rig) -> None:
    schedule = _resolve(
        rig,
        emotion=[
            {"t_ms": 1000, "expr": "happy_soft", "transition_ms": 400},
            {"t_ms": 1150, "expr": "happy_big", "transition_ms": 500},
        ],
    )
    # Six frames over 500 ms: finish neutral -> happy_soft, then play happy_soft -> happy_big.
    assert schedule.changes[3:5] == ((1150, TO_HAPPY.format(75)), (1233, "endpoints/happy_soft__center.png"))
    assert schedule.changes[-1] == (1150 + 5 * 500 // 6, "endpoints/happy_big__center.png")


def test_head_move_keeps_pace_when_a_viseme_arrives_mid_move(rig: Rig) -> None:
    move = [{"t_ms": 1000, "pose": "tilt_left_small", "transition_ms": 800}]
    alone = _resolve(rig, pose=move)
    assert alone.changes == (
        (0, NEUTRAL),
        (1000, TO_TILT.format(25)),
        (1200, TO_TILT.format(50)),
        (1400, TO_TILT.format(75)),
        (1600, "endpoints/neutral__tilt_left_small.png"),
    )
    # A viseme at 1300 can only show once the head is at tilt_left (pose sequences are neutral):
    # the nod's remaining frames keep their times, then the mouth opens at its own speed.
    talking = _resolve(rig, pose=move, speech=[{"t_ms": 1300, "end_ms": 2500, "viseme": "speaking_ah"}])
    assert talking.changes[:5] == alone.changes
    ms = rig.config.speech_transition_ms
    mouth = [*(AH_AT_TILT.format(t) for t in (25, 50, 75)), "endpoints/speaking_ah__tilt_left_small.png"]
    assert talking.changes[5:9] == tuple((1800 + k * ms // 4, key) for k, key in enumerate(mouth))
    assert talking.changes[9][0] == 2500  # and closes when the cue ends
    # A short cue that ends before the head arrives leaves the nod untouched.
    blip = _resolve(rig, pose=move, speech=[{"t_ms": 1300, "end_ms": 1400, "viseme": "speaking_ah"}])
    assert blip.changes == alone.changes


def test_head_move_keeps_pace_through_several_visemes(rig: Rig) -> None:
    move = [{"t_ms": 1000, "pose": "tilt_left_small", "transition_ms": 800}]
    cues = [
        {"t_ms": 1100, "end_ms": 1250, "viseme": "speaking_ee"},
        {"t_ms": 1250, "end_ms": 1450, "viseme": "oh_round"},
        {"t_ms": 1450, "end_ms": 2000, "viseme": "speaking_ah"},
    ]
    schedule = _resolve(rig, pose=move, speech=cues)
    alone = _resolve(rig, pose=move)
    assert schedule.changes[:5] == alone.changes
    assert schedule.key_at(1899) == "endpoints/speaking_ah__tilt_left_small.png"


def test_a_new_head_target_mid_move_reroutes_at_its_own_pace(rig: Rig) -> None:
    schedule = _resolve(
        rig,
        pose=[
            {"t_ms": 1000, "pose": "tilt_left_small", "transition_ms": 800},
            {"t_ms": 1300, "pose": "center", "transition_ms": 200},
        ],
    )
    assert schedule.changes[3:] == ((1300, TO_TILT.format(25)), (1400, NEUTRAL))


def test_motion_plans_ahead_and_commits_only_what_was_shown(rig: Rig) -> None:
    motion = Motion(router_for(rig), NEUTRAL)
    motion.goto(1000, State("happy_soft", "center"), 400)
    assert motion.planned == [
        (1000, TO_HAPPY.format(25)),
        (1100, TO_HAPPY.format(50)),
        (1200, TO_HAPPY.format(75)),
        (1300, "endpoints/happy_soft__center.png"),
    ]
    motion.goto(1200, State("neutral", "center"), 100)  # 075 at 1200 is replaced, never shown
    assert motion.changes == [(0, NEUTRAL), (1000, TO_HAPPY.format(25)), (1100, TO_HAPPY.format(50))]
    assert motion.planned == [(1200, TO_HAPPY.format(25)), (1250, NEUTRAL)]
    assert motion.finish(5000)[-1] == (1250, NEUTRAL)


def test_going_to_the_current_target_changes_nothing(rig: Rig) -> None:
    motion = Motion(router_for(rig), NEUTRAL)
    motion.goto(1000, State("neutral", "center"), 400)
    assert motion.planned == [] and motion.finish(2000) == [(0, NEUTRAL)]


def test_a_transition_cut_by_the_duration_completes_and_the_schedule_is_longer(rig: Rig) -> None:
    schedule = _resolve(rig, duration_ms=1100, emotion=[{"t_ms": 1000, "expr": "happy_soft", "transition_ms": 400}])
    assert schedule.changes == (
        (0, NEUTRAL),
        (1000, TO_HAPPY.format(25)),
        (1100, TO_HAPPY.format(50)),
        (1200, TO_HAPPY.format(75)),
        (1300, "endpoints/happy_soft__center.png"),
    )
    assert schedule.duration_ms == 1400


def test_a_final_frame_shown_too_briefly_is_held_for_the_final_hold(rig: Rig) -> None:
    schedule = _resolve(rig, duration_ms=1095, emotion=[{"t_ms": 1000, "expr": "happy_soft", "transition_ms": 80}])
    assert schedule.changes[-1] == (1060, "endpoints/happy_soft__center.png")
    assert schedule.duration_ms == 1060 + FINAL_HOLD_MS
    for fps in range(12, 61):  # every export frame rate ends on the final state
        assert schedule.sample(fps)[-1] == "endpoints/happy_soft__center.png", fps


def test_a_schedule_that_settles_early_keeps_its_duration(rig: Rig) -> None:
    schedule = _resolve(rig, duration_ms=5000, emotion=[{"t_ms": 1000, "expr": "happy_soft", "transition_ms": 400}])
    assert schedule.duration_ms == 5000


def test_resolving_twice_gives_the_same_schedule(rig: Rig) -> None:
    data = {
        "version": 1,
        "tracks": {
            "emotion": [{"t_ms": 0, "expr": "happy_soft"}, {"t_ms": 2500, "expr": "concerned", "transition_ms": 600}],
            "speech": [{"t_ms": 300 + 100 * i, "end_ms": 380 + 100 * i, "viseme": "speaking_ee"} for i in range(20)],
            "pose": [{"t_ms": 1200, "pose": "nod_down_small", "transition_ms": 500}],
        },
        "idle": {"blink": True, "seed": 11},
        "duration_ms": 10_000,
    }
    first = resolve(parse_timeline(data), rig)
    assert first == resolve(parse_timeline(data), rig)
    assert first == resolve(parse_timeline(data), make_rig())  # a fresh rig and router agree
