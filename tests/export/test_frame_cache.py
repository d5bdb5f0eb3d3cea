"""FrameCache: converted frames kept only while a later use is coming (streamer.export.decode)."""

from __future__ import annotations

import concurrent.futures

from streamer.export.decode import FrameCache


def _cache(
    uses: list[str], frames: int, pool: concurrent.futures.Executor | None = None
) -> tuple[FrameCache, list[str]]:
    converted: list[str] = []

    def convert(key: str) -> object:
        converted.append(key)
        return f"frame {key}"

    return FrameCache(convert, 10, 10 * frames, uses, pool), converted  # type: ignore[arg-type]


def test_a_frame_is_kept_until_its_last_use_and_no_longer():
    uses = list("abacbad")
    cache, converted = _cache(uses, frames=8)
    for i, key in enumerate(uses):
        assert cache.get(key) == f"frame {key}"
        # Held: the keys seen that are still to come, nothing else.
        assert set(cache.frames) == set(uses[: i + 1]) & set(uses[i + 1 :])
    assert converted == ["a", "b", "c", "d"] and cache.conversions == 4
    assert not cache.frames


def test_beyond_its_budget_the_least_recently_used_frame_goes_and_is_converted_again():
    uses = list("abcacb")
    cache, converted = _cache(uses, frames=2)
    for key in uses:
        cache.get(key)
        assert len(cache.frames) <= 2
    assert converted == ["a", "b", "c", "a"]  # a went for c, the least recently used


def test_frames_are_converted_ahead_on_the_pool_in_order_of_use():
    uses = list("abcabd")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        cache, converted = _cache(uses, frames=8, pool=pool)
        assert [cache.get(key) for key in uses] == [f"frame {key}" for key in uses]
    assert sorted(converted) == ["a", "b", "c", "d"]
