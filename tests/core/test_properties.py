"""Property-based tests: any valid timeline resolves to a schedule that plays correctly."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.core.channel import Channel
from streamer.core.layers import target_events
from streamer.core.resolve import resolve
from streamer.core.rig import Rig, State
from streamer.core.routing import router_for
from streamer.core.schedule import Schedule
from streamer.core.timeline import parse_timeline, timeline_to_json
from tests.rigs import FACE_RIG_CONFIG, make_rig

RIG: Rig = make_rig()
EXPRESSIONS = sorted(FACE_RIG_CONFIG["expressions"])
POSES = list(FACE_RIG_CONFIG["poses"])
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def _adjacency(rig: Rig) -> set[frozenset[str]]:
    """Pairs of keys that may follow each other: endpoint(start) - frames... - endpoint(end)."""
    pairs: set[frozenset[str]] = set()
    for seq in rig.sequences.values():
        chain = [rig.endpoint_key(seq.start), *(k for _, k in seq.frames), rig.endpoint_key(seq.end)]
        pairs.update(frozenset(p) for p in zip(chain, chain[1:], strict=False))
    return pairs


NEIGHBOURS = _adjacency(RIG)


@st.composite
def _times(draw: st.DrawFn, limit: int, max_size: int) -> list[int]:
    return sorted(draw(st.sets(st.integers(0, limit), max_size=max_size)))


@st.composite
def timelines(draw: st.DrawFn) -> dict[str, Any]:
    """Valid v1 timeline documents for the face_rig-like rig."""
    duration = draw(st.integers(500, 20_000))
    transition = st.integers(0, 1500)
    emotion = [
        {"t_ms": t, "expr": draw(st.sampled_from(EXPRESSIONS)), "transition_ms": draw(transition)}
        for t in draw(_times(duration, 12))
    ]
    pose = [
        {"t_ms": t, "pose": draw(st.sampled_from(POSES)), "transition_ms": draw(transition)}
        for t in draw(_times(duration, 6))
    ]
    speech: list[dict[str, Any]] = []
    t = draw(st.integers(0, 500))
    for gap, length in draw(st.lists(st.tuples(st.integers(0, 300), st.integers(1, 250)), max_size=40)):
        start = t + gap
        if start + length > duration:
            break
        cue: dict[str, Any] = {"t_ms": start, "end_ms": start + length, "viseme": draw(st.sampled_from(EXPRESSIONS))}
        if draw(st.booleans()):
            cue["transition_ms"] = draw(st.integers(0, 200))
        speech.append(cue)
        t = start + length
    blink = []
    for bt in draw(_times(duration, 8)):
        item: dict[str, Any] = {"t_ms": bt}
        if draw(st.booleans()):
            item["duration_ms"] = draw(st.integers(0, 400))
        blink.append(item)
    doc: dict[str, Any] = {
        "version": 1,
        "start": {"expr": draw(st.sampled_from(EXPRESSIONS)), "pose": draw(st.sampled_from(POSES))},
        "tracks": {"emotion": emotion, "speech": speech, "pose": pose, "blink": blink},
        "idle": {"blink": draw(st.booleans()), "seed": draw(st.integers(0, 2**31 - 1))},
    }
    if draw(st.booleans()):
        doc["duration_ms"] = duration
    return doc


@PROPERTY_SETTINGS
@given(timelines())
def test_every_schedule_plays_real_neighbouring_frames_in_time_order(doc: dict[str, Any]) -> None:
    timeline = parse_timeline(doc)
    schedule = resolve(timeline, RIG)
    times = [t for t, _ in schedule.changes]
    assert times[0] == 0
    assert all(a <= b for a, b in zip(times, times[1:], strict=False))
    assert times[-1] < schedule.duration_ms
    assert schedule.duration_ms >= timeline.duration_ms
    assert schedule.changes[0][1] == RIG.endpoint_key(timeline.start)
    for _, key in schedule.changes:
        assert RIG.has_key(key), key
    for (_, a), (_, b) in zip(schedule.changes, schedule.changes[1:], strict=False):
        assert a == b or frozenset((a, b)) in NEIGHBOURS, (a, b)


@PROPERTY_SETTINGS
@given(timelines())
def test_given_time_the_schedule_settles_on_the_last_target(doc: dict[str, Any]) -> None:
    timeline = parse_timeline({**doc, "idle": {"blink": False}, "duration_ms": None})
    timeline = parse_timeline({**timeline_to_json(timeline), "duration_ms": timeline.duration_ms + 30_000})
    targets = target_events(timeline, RIG, router_for(RIG))
    final = targets[-1].state if targets else timeline.start
    assert resolve(timeline, RIG).changes[-1][1] == RIG.endpoint_key(final)


def last_targets(doc: dict[str, Any]) -> State:
    """The state a timeline document ends in, read off its tracks: last emotion, last pose."""
    tracks = doc["tracks"]
    expr = tracks["emotion"][-1]["expr"] if tracks["emotion"] else doc["start"]["expr"]
    pose = tracks["pose"][-1]["pose"] if tracks["pose"] else doc["start"]["pose"]
    return State(expr, pose)


@PROPERTY_SETTINGS
@given(timelines(), st.sampled_from([12, 24, 25, 30, 60]))
def test_every_schedule_ends_on_its_last_targets_reached_in_full(doc: dict[str, Any], fps: int) -> None:
    schedule = resolve(parse_timeline(doc), RIG)
    final = RIG.endpoint_key(last_targets(doc))
    assert schedule.changes[-1][1] == final
    assert schedule.sample(fps)[-1] == final


@PROPERTY_SETTINGS
@given(timelines(), st.sampled_from([12, 24, 25, 30, 60]))
def test_live_holds_the_last_targets_after_the_program_and_ends_on_the_exports_last_frame(
    doc: dict[str, Any], fps: int
) -> None:
    schedule = resolve(parse_timeline(doc), RIG)
    channel = Channel("prop", RIG, now_ms=0)
    viewer: list[tuple[int, str]] = []
    program, messages = channel.play(0, schedule)
    now = 0
    while now < program.end_ms + 1000:
        for m in messages:
            if m["type"] == "frames":  # the protocol's rule: drop from from_ms, then insert
                viewer = [f for f in viewer if f[0] < m["from_ms"]] + [(t, u) for t, u in m["frames"]]
        now += 250
        messages = channel.tick(now)
    final = last_targets(doc)
    shown_at_end = [u for t, u in viewer if t <= program.end_ms][-1]
    assert shown_at_end == schedule.sample(fps)[-1] == RIG.endpoint_key(final)
    assert channel.state == final
    hello = channel.join(now, "viewer")[0]
    assert hello["state"] == {"expr": final.expr, "pose": final.pose}


@PROPERTY_SETTINGS
@given(timelines())
def test_resolving_twice_gives_the_same_schedule(doc: dict[str, Any]) -> None:
    assert resolve(parse_timeline(doc), RIG) == resolve(parse_timeline(doc), RIG)


@PROPERTY_SETTINGS
@given(timelines())
def test_timelines_round_trip_through_json(doc: dict[str, Any]) -> None:
    timeline = parse_timeline(doc)
    assert parse_timeline(timeline_to_json(timeline)) == timeline


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    duration = draw(st.integers(1, 5000))
    times = sorted(draw(st.lists(st.integers(0, duration + 100), max_size=60)))
    changes = [(0, "start")] + [(t, f"k{i}") for i, t in enumerate(times)]
    return Schedule(duration, tuple(changes))


FPS = st.one_of(
    st.sampled_from([24, 25, 30, 60, Fraction(30000, 1001), Fraction(24000, 1001)]),
    st.fractions(min_value=Fraction(1, 10), max_value=240, max_denominator=2000).filter(lambda f: f > 0),
)


@PROPERTY_SETTINGS
@given(schedules(), FPS)
def test_sampling_is_exact_at_any_fps(schedule: Schedule, fps: Fraction) -> None:
    frames = schedule.sample(fps)
    rate = Fraction(fps)
    expected = []
    i = 0
    while Fraction(1000 * i) / rate < schedule.duration_ms:
        t = Fraction(1000 * i) / rate
        expected.append([key for change_t, key in schedule.changes if change_t <= t][-1])
        i += 1
    assert frames == expected
    assert [schedule.key_at(int(Fraction(1000 * i) / rate)) for i in range(len(frames))] == frames
