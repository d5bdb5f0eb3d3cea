"""The speaker's clock: a runway cut before the queued audio runs out, a lone first clause when placing is quick."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from streamer.server.livechannel import BASE_LEAD_MS, MIN_MEASURED_LEAD_MS, measured_base_ms
from streamer.server.speaking import PLACE_GUESS_MS, Speaker
from streamer.server.speech import SayOptions


def now_ms() -> int:
    return int(time.monotonic() * 1000)


class Channel:
    """Places segments at once; the next must be placed by ``deadline_ms`` after each."""

    def __init__(self, deadline_ms: int) -> None:
        self.deadline_ms = deadline_ms
        self.said: list[str] = []
        self.event = asyncio.Event()

    async def say(self, text: str, options: SayOptions, tag: str | None) -> int:
        self.said.append(text)
        self.event.set()
        return now_ms() + self.deadline_ms

    async def wait_for(self, count: int) -> None:
        while len(self.said) < count:
            self.event.clear()
            await asyncio.wait_for(self.event.wait(), timeout=10)


async def test_when_the_audio_is_about_to_run_out_the_words_so_far_are_cut_not_the_leaning_ones() -> None:
    channel = Channel(deadline_ms=0)  # the next segment is due at once
    speaker = Speaker("s", SayOptions(), channel.say, now_ms, deque([5]))
    speaker.feed("Well, ", final=False)
    await channel.wait_for(1)
    speaker.feed("that is a really good and ", final=False)
    await channel.wait_for(2)
    # The stall rule (after 350 ms without text) would have cut "... good and": the runway keeps
    # "and" for the words it leans on.
    assert channel.said == ["Well,", "that is a really good"]
    # Still due: "and" alone leans, so it waits for the next word, which is cut as it comes.
    speaker.feed("fun ", final=False)
    await channel.wait_for(3)
    speaker.feed("stream.", final=True)
    await asyncio.wait_for(speaker.task, timeout=10)
    assert channel.said == ["Well,", "that is a really good", "and fun", "stream."]
    assert len(speaker.place_ms) == 1 + 4, "each short placing is measured, after those the channel kept"
    speaker = Speaker("t", SayOptions(), channel.say, now_ms, deque([5]))
    speaker.feed("One two three four five six seven, eight nine ten.", final=True)
    await asyncio.wait_for(speaker.task, timeout=10)
    # "One two" is counted, the eight words after it are not.
    assert list(speaker.place_ms)[:1] == [5] and len(speaker.place_ms) == 2


async def test_a_lone_first_clause_waits_for_more_while_placing_is_slow() -> None:
    for measured, first in ((deque([20]), "Well,"), (deque([400]), "Well, that is a"), (deque(), "Well, that is a")):
        channel = Channel(deadline_ms=5000)
        speaker = Speaker("s", SayOptions(), channel.say, now_ms, measured)
        speaker.feed("Well, that is a really good one.", final=True)
        await asyncio.wait_for(speaker.task, timeout=10)
        assert channel.said[0] == first, measured
    assert PLACE_GUESS_MS > 150, "nothing measured yet: the safe choice"


def test_a_spoken_segments_lead_is_three_times_the_slowest_recent_broadcast_at_least_25_ms() -> None:
    assert measured_base_ms([]) == BASE_LEAD_MS, "nothing measured yet: the fixed base"
    assert measured_base_ms([0.3, 3.5, 0.4]) == MIN_MEASURED_LEAD_MS == 25
    assert measured_base_ms([0.3, 40.2, 1.0]) == 121, "a slow broadcast lengthens it"
