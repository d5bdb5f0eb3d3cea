"""Schedules: exact sampling at any fps, frame counts, lookups and windows."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from streamer.core.errors import TimelineError
from streamer.core.schedule import Schedule, as_fps

NTSC = Fraction(30000, 1001)
RATES = [24, 25, 30, 60, NTSC]


def _brute_force_sample(schedule: Schedule, fps: int | Fraction) -> list[str]:
    rate = Fraction(fps)
    frames: list[str] = []
    i = 0
    while Fraction(i * 1000) / rate < schedule.duration_ms:
        t = Fraction(i * 1000) / rate
        frames.append([key for change_t, key in schedule.changes if change_t <= t][-1])
        i += 1
    return frames


def _schedule_with_boundaries(duration_ms: int = 3000, seed: int = 5) -> Schedule:
    """Random changes plus changes exactly on (and one ms either side of) frame boundaries."""
    rng = random.Random(seed)
    times = {0, 125, 126, 1000, 1001, 1002, 999, 40, 41, 33, 34, 2002, 2001, 2000, 1668, 1669}
    times |= {rng.randrange(duration_ms) for _ in range(200)}
    changes = [(t, f"k/{t:05d}.png") for t in sorted(times)]
    changes.insert(5, (changes[4][0], "k/same-time.png"))  # two changes at one millisecond
    return Schedule(duration_ms, tuple(changes))


@pytest.mark.parametrize("fps", RATES, ids=str)
def test_sampling_matches_exact_fraction_arithmetic(fps: int | Fraction) -> None:
    schedule = _schedule_with_boundaries()
    frames = schedule.sample(fps)
    assert frames == _brute_force_sample(schedule, fps)
    assert len(frames) == schedule.frame_count(fps)


@pytest.mark.parametrize("fps", RATES, ids=str)
def test_sampling_a_sparse_schedule(fps: int | Fraction) -> None:
    schedule = Schedule(10_000, ((0, "a"), (5005, "b"), (5006, "c"), (9999, "d")))
    assert schedule.sample(fps) == _brute_force_sample(schedule, fps)


def test_frame_on_an_exact_boundary_shows_the_change_at_that_time() -> None:
    schedule = Schedule(2000, ((0, "a"), (125, "b"), (1001, "c")))
    at_24 = schedule.sample(24)
    assert at_24[2] == "a" and at_24[3] == "b"  # frame 3 is at exactly 125 ms
    at_ntsc = schedule.sample(NTSC)
    assert at_ntsc[29] == "b" and at_ntsc[30] == "c"  # frame 30 is at exactly 1001 ms


def test_the_last_of_several_changes_at_one_time_wins() -> None:
    schedule = Schedule(1000, ((0, "a"), (0, "b"), (500, "c"), (500, "d")))
    assert schedule.sample(2) == ["b", "d"]
    assert schedule.key_at(0) == "b" and schedule.key_at(500) == "d"


@pytest.mark.parametrize(
    ("duration_ms", "fps", "count"),
    [
        (1000, 24, 24),
        (1001, 24, 25),
        (1, 60, 1),
        (1000, NTSC, 30),
        (1001, NTSC, 30),
        (1002, NTSC, 31),
        (60_000, NTSC, 1799),
        (3_600_000, 25, 90_000),
        (41, 24, 1),
        (42, 24, 2),
    ],
)
def test_frame_count_covers_the_duration(duration_ms: int, fps: int | Fraction, count: int) -> None:
    assert Schedule(duration_ms, ((0, "a"),)).frame_count(fps) == count


def test_fps_is_exact() -> None:
    assert as_fps("30000/1001") == NTSC
    assert as_fps(24) == Fraction(24)
    assert as_fps(NTSC) == NTSC and as_fps(Fraction(48, 2)) == 24
    for bad in (0, -24, 241, "fast", None):
        with pytest.raises(TimelineError, match="^fps: "):
            as_fps(bad)  # type: ignore[arg-type]


def test_key_at_finds_the_change_on_screen() -> None:
    schedule = Schedule(1000, ((0, "a"), (100, "b"), (200, "c")))
    assert [schedule.key_at(t) for t in (-5, 0, 99, 100, 150, 200, 5000)] == ["a", "a", "a", "b", "b", "c", "c"]


def test_window_starts_with_the_frame_on_screen() -> None:
    schedule = Schedule(1000, ((0, "a"), (100, "b"), (200, "c"), (300, "d")))
    assert schedule.window(150, 300) == [(150, "b"), (200, "c")]
    assert schedule.window(100, 301) == [(100, "b"), (200, "c"), (300, "d")]
    assert schedule.window(0, 100) == [(0, "a")]
    assert schedule.window(900, 2000) == [(900, "d")]


def test_keys_are_in_order_of_first_use() -> None:
    schedule = Schedule(1000, ((0, "a"), (100, "b"), (200, "a"), (300, "c")))
    assert schedule.keys() == ["a", "b", "c"]
    assert schedule.times == [0, 100, 200, 300]


def test_to_json_includes_sampled_frames_when_asked() -> None:
    schedule = Schedule(100, ((0, "a"), (50, "b")))
    assert schedule.to_json() == {"duration_ms": 100, "changes": [[0, "a"], [50, "b"]]}
    doc = schedule.to_json(NTSC)
    assert doc["fps"] == "30000/1001" and doc["frames"] == ["a", "a", "b"]


def test_a_schedule_starts_at_zero() -> None:
    with pytest.raises(ValueError):
        Schedule(100, ())
    with pytest.raises(ValueError):
        Schedule(100, ((10, "a"),))
