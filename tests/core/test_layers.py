"""Layer passes: emotion, speech, blinks and poses combined by axes into target states."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.core.errors import TimelineError
from streamer.core.layers import Target, idle_blinks, target_events
from streamer.core.resolve import resolve
from streamer.core.rig import BlinkSettings, Rig, State
from streamer.core.routing import router_for
from streamer.core.timeline import parse_timeline
from tests.rigs import make_rig


def _combo_config() -> dict[str, Any]:
    """A rig where a smile can talk: happy + open mouth is its own expression, happy_talk."""
    return {
        "axes": {"mouth": ["closed", "smile", "open"], "eyes": ["open", "squint", "shut"]},
        "poses": ["front"],
        "expressions": {
            "neutral": {"mouth": "closed", "eyes": "open"},
            "happy": {"mouth": "smile", "eyes": "squint"},
            "talk": {"mouth": "open", "eyes": "open"},
            "happy_talk": {"mouth": "open", "eyes": "squint"},
            "blink_closed": {"mouth": "closed", "eyes": "shut"},
            # reachable, but only through blink_closed: no direct blink from happy
            "happy_blink": {"mouth": "smile", "eyes": "shut"},
        },
        "base_paths": [
            {"id": "neutral_to_happy", "start": "neutral", "end": "happy"},
            {"id": "neutral_to_talk", "start": "neutral", "end": "talk"},
            {"id": "happy_to_happy_talk", "start": "happy", "end": "happy_talk"},
            {"id": "neutral_to_blink", "start": "neutral", "end": "blink_closed"},
            {"id": "blink_to_happy_blink", "start": "blink_closed", "end": "happy_blink"},
        ],
        "blink": {"eyes": "shut"},
    }


@pytest.fixture(scope="module")
def combo_rig() -> Rig:
    config = _combo_config()
    return make_rig(config)


@pytest.fixture(scope="module")
def face_rig() -> Rig:
    return make_rig()


def _targets(data: dict[str, Any], rig: Rig) -> list[Target]:
    return target_events(parse_timeline(data), rig, router_for(rig))


def _v1(start: tuple[str, str] = ("neutral", "front"), **tracks: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "start": {"expr": start[0], "pose": start[1]},
        "tracks": tracks,
        "idle": {"blink": False},
        "duration_ms": 5000,
    }


def test_speech_overrides_only_the_mouth_when_the_rig_has_the_combination(combo_rig: Rig) -> None:
    data = _v1(
        emotion=[{"t_ms": 0, "expr": "happy", "transition_ms": 200}],
        speech=[{"t_ms": 1000, "end_ms": 1200, "viseme": "talk", "transition_ms": 40}],
    )
    assert _targets(data, combo_rig) == [
        Target(0, State("happy", "front"), 200),
        Target(1000, State("happy_talk", "front"), 40),
        Target(1200, State("happy", "front"), combo_rig.config.speech_transition_ms),
    ]
    schedule = resolve(parse_timeline(data), combo_rig)
    assert schedule.key_at(1100) == "endpoints/happy_talk__front.png"
    assert schedule.key_at(1500) == "endpoints/happy__front.png"


def test_speech_wins_over_emotion_when_no_combination_exists(face_rig: Rig) -> None:
    data = _v1(
        start=("neutral", "center"),
        emotion=[{"t_ms": 0, "expr": "happy_soft"}],
        speech=[{"t_ms": 1000, "end_ms": 1500, "viseme": "speaking_ah"}],
    )
    targets = _targets(data, face_rig)
    assert [(t.t_ms, t.state.expr) for t in targets] == [(0, "happy_soft"), (1000, "speaking_ah"), (1500, "happy_soft")]
    schedule = resolve(parse_timeline(data), face_rig)
    assert schedule.key_at(1499) == "endpoints/speaking_ah__center.png"


def test_blinks_close_the_eyes_where_a_blink_path_exists(face_rig: Rig) -> None:
    blink = face_rig.config.blink
    data = _v1(start=("neutral", "center"), blink=[{"t_ms": 1000}, {"t_ms": 2000, "duration_ms": 300}])
    assert _targets(data, face_rig) == [
        Target(1000, State("blink_closed", "center"), blink.close_ms),
        Target(1000 + blink.close_ms + blink.closed_ms, State("neutral", "center"), blink.open_ms),
        Target(2000, State("blink_closed", "center"), blink.close_ms),
        Target(2300, State("neutral", "center"), blink.open_ms),
    ]


def test_no_blink_where_the_rig_has_no_direct_blink_path(face_rig: Rig, combo_rig: Rig) -> None:
    # face_rig has no closed-eyes version of happy_soft at all.
    data = _v1(start=("happy_soft", "center"), blink=[{"t_ms": 1000}])
    assert _targets(data, face_rig) == []
    # Here happy_blink exists, but only via blink_closed: blinking must not take a detour.
    data = _v1(start=("happy", "front"), blink=[{"t_ms": 1000}])
    assert _targets(data, combo_rig) == []
    schedule = resolve(parse_timeline(data), combo_rig)
    assert schedule.changes == ((0, "endpoints/happy__front.png"),)


def test_idle_blinks_are_deterministic_from_the_seed() -> None:
    settings = BlinkSettings()
    first = idle_blinks(7, 120_000, settings)
    assert first == idle_blinks(7, 120_000, settings)
    assert first != idle_blinks(8, 120_000, settings)
    assert len(first) >= 120_000 // (settings.interval_max_ms + 300)
    closed_for = settings.close_ms + settings.closed_ms
    assert all(d == closed_for for _, d in first)
    starts = [t for t, _ in first]
    assert starts == sorted(starts)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= closed_for + settings.open_ms
    assert all(t + closed_for + settings.open_ms < 120_000 for t in starts)


def test_idle_blinks_make_the_same_schedule_for_the_same_seed(face_rig: Rig) -> None:
    def schedule(seed: int) -> tuple[tuple[int, str], ...]:
        data = {"version": 1, "idle": {"blink": True, "seed": seed}, "duration_ms": 60_000}
        return resolve(parse_timeline(data), face_rig).changes

    assert schedule(3) == schedule(3)
    assert schedule(3) != schedule(4)
    assert any("neutral_to_blink__center" in key for _, key in schedule(3))


def test_explicit_blinks_merge_with_overlapping_ones(face_rig: Rig) -> None:
    data = _v1(start=("neutral", "center"), blink=[{"t_ms": 1000, "duration_ms": 500}, {"t_ms": 1200}])
    assert [t.t_ms for t in _targets(data, face_rig)] == [1000, 1500]


def test_simultaneous_changes_take_the_most_significant_transition(face_rig: Rig) -> None:
    data = _v1(
        start=("neutral", "center"),
        emotion=[{"t_ms": 500, "expr": "happy_soft", "transition_ms": 300}],
        pose=[{"t_ms": 500, "pose": "nod_up_small", "transition_ms": 900}],
    )
    assert _targets(data, face_rig) == [Target(500, State("happy_soft", "nod_up_small"), 900)]


def test_an_item_at_the_end_is_a_last_target_and_the_schedule_runs_until_it_completes(face_rig: Rig) -> None:
    data = _v1(start=("neutral", "center"), emotion=[{"t_ms": 5000, "expr": "happy_soft", "transition_ms": 400}])
    assert _targets(data, face_rig) == [Target(5000, State("happy_soft", "center"), 400)]
    schedule = resolve(parse_timeline(data), face_rig)
    assert schedule.duration_ms == 5400  # 5000 + the whole transition
    assert schedule.changes[-1] == (5300, "endpoints/happy_soft__center.png")
    assert schedule.sample(12)[-1] == schedule.sample(60)[-1] == "endpoints/happy_soft__center.png"


def test_items_after_the_end_are_rejected() -> None:
    data = _v1(start=("neutral", "center"), pose=[{"t_ms": 5001, "pose": "nod_up_small"}])
    with pytest.raises(TimelineError, match=r"tracks.pose\[0\]: t_ms 5001 is after duration_ms 5000"):
        parse_timeline(data)


def test_idle_blinks_terminate_when_every_blink_time_is_zero(face_rig: Rig) -> None:
    zero = BlinkSettings(interval_min_ms=0, interval_max_ms=0, close_ms=0, closed_ms=0, open_ms=0, double_chance=0)
    blinks = idle_blinks(1, 50, zero)
    assert blinks and [t for t, _ in blinks] == sorted({t for t, _ in blinks})
    times = ("interval_min_ms", "interval_max_ms", "close_ms", "closed_ms", "open_ms")
    config = {**_combo_config(), "blink": {"eyes": "shut", **dict.fromkeys(times, 0)}}
    rig = make_rig(config)
    schedule = resolve(parse_timeline({"version": 1, "start": {"pose": "front"}, "duration_ms": 2000}), rig)
    assert schedule.changes[0] == (0, "endpoints/neutral__front.png")
