"""Speech said live on a channel (I/O): text in, whole or in pieces; segments spoken in order.

A :class:`Speaker` holds one stream of text (an id, the voice options, a segmenter). Inline
emotion tags (``[happy]``, or any of the rig's expressions) are taken out of the text and set
the face of their segment and the ones after it. Text is cut
into segments as it arrives (:mod:`streamer.speech.synthesis.segmenter`); one task speaks them in order,
each as soon as the one before it is placed, so a segment is synthesized while the previous one
plays and the channel appends it where that one's audio ends. Cancelling drops the queued text
and the synthesis in flight.

The speaker keeps the clock: placing a segment tells it the latest time the next one can be
placed without a gap (the *deadline*), and it measures how long placing a short segment takes
(the channel keeps the last few, across streams). When nothing is queued that long before the
deadline, the complete words so far are cut (the segmenter's *runway*), so the voice runs on
rather than fall silent mid-sentence; and a one-word first clause ("Well,") is cut alone, the
quickest start, only while segments are placed fast enough for the next to follow it in time.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from streamer.server.speech import SayOptions
from streamer.speech.synthesis.segmenter import EMOTION_TAG, Segmenter, speakable

# Said: (speakable text, options, emotion tag or None) -> placed on the channel; returns the latest
# server time the next segment can be placed to follow it without a gap (None: not placed).
# Errors are the callback's.
SaySegment = Callable[[str, SayOptions, str | None], Awaitable[int | None]]
# Placing a short segment (at most SHORT_WORDS words: a first one, a runway cut) is assumed to take
# this long (ms) until measured; measurements kept. Longer ones take longer (encoding grows with
# the audio) and say nothing about the next short one, so they are not counted.
PLACE_GUESS_MS, PLACE_KEPT, SHORT_WORDS = 400, 16, 6
# The runway cut comes this long before the deadline, or twice the estimate if longer: a placing
# can take several times the recent ones on a busy machine (measured: 25 ms typical, 600 ms spikes
# at load 12), and a shorter segment is a smaller cost than a silence.
RUNWAY_MARGIN_MS = 250
# A one-word first clause lasts 300-450 ms: cut alone while the slowest of the last PLACE_KEPT
# placings is under this, it leaves the next words time to arrive (20 tokens/s: 3-6 words) and
# be placed after the runway cut. A spike after a calm stretch still makes a gap (seen once in 13
# lone clauses at load 10-12 with 8 kept and 150 ms: a 480 ms placing); a busy machine, whose
# spikes recur, keeps the longer first segment.
LONE_CLAUSE_PLACE_MS = 120


class Speaker:
    """One stream of text spoken on a channel."""

    def __init__(
        self,
        stream: str,
        options: SayOptions,
        say_segment: SaySegment,
        now_ms: Callable[[], int],
        place_ms: deque[int] | None = None,
    ) -> None:
        self.stream, self.options = stream, options
        self._say, self._now_ms = say_segment, now_ms
        self.place_ms = deque(maxlen=PLACE_KEPT) if place_ms is None else place_ms  # how long placing took
        self._segmenter = Segmenter(lone_first_clause=self.place_estimate() <= LONE_CLAUSE_PLACE_MS)
        self._runway_timer: asyncio.TimerHandle | None = None
        self._placing = False
        self._overdue = False  # the runway found no complete word: cut the next ones as they come
        self._queue: asyncio.Queue[tuple[str, str | None] | None] = asyncio.Queue()
        self.emotion: str | None = None  # the last inline tag
        self._timer: asyncio.TimerHandle | None = None
        self.segments = 0  # cut so far
        self.final = False
        self.task = asyncio.create_task(self._run(), name=f"speaker-{stream}")

    @property
    def done(self) -> bool:
        return self.task.done()

    def feed(self, text: str, final: bool) -> None:
        """Add ``text`` to the stream; ``final`` ends it (what is left is spoken)."""
        if self.final:
            return
        now = self._now_ms()
        for segment in self._segmenter.feed(text, now):
            self._put(segment)
        if self._overdue and self._queue.empty() and not self._placing:
            for segment in self._segmenter.runway():
                self._put(segment)
        if final:
            self.final = True
            for segment in self._segmenter.finish():
                self._put(segment)
            self._queue.put_nowait(None)
        self._arm()

    def cancel(self) -> None:
        """Drop the queued text and stop the synthesis in flight."""
        for timer in (self._timer, self._runway_timer):
            if timer is not None:
                timer.cancel()
        self.task.cancel()

    def place_estimate(self) -> int:
        """How long placing a short segment may take: the slowest of the recent ones."""
        return max(self.place_ms, default=PLACE_GUESS_MS)

    def _put(self, segment: str) -> None:
        tags = EMOTION_TAG.findall(segment)
        if tags:
            self.emotion = tags[-1]  # it holds for the segments after it, until the next tag
        text = speakable(EMOTION_TAG.sub(" ", segment)).strip()
        text = " ".join(text.split())
        if any(ch.isalnum() for ch in text):  # punctuation, Markdown or a tag alone says nothing
            self.segments += 1
            self._overdue = False
            self._queue.put_nowait((text, self.emotion))

    def _arm(self) -> None:
        """Speak the complete words so far if no more text comes for the segmenter's wait."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = None if self.final else self._segmenter.next_due_ms()
        if due is not None:
            delay = max(due - self._now_ms(), 0) / 1000
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_wait)

    def _on_wait(self) -> None:
        self._timer = None
        for segment in self._segmenter.due(self._now_ms()):
            self._put(segment)
        self._arm()

    def _watch(self, deadline: int | None) -> None:
        """Cut the words so far if nothing is queued when the next segment must start placing."""
        if self._runway_timer is not None:
            self._runway_timer.cancel()
            self._runway_timer = None
        if deadline is not None and not self.final:
            margin = max(2 * self.place_estimate(), RUNWAY_MARGIN_MS)
            delay = max(deadline - margin - self._now_ms(), 0) / 1000
            self._runway_timer = asyncio.get_running_loop().call_later(delay, self._on_runway)

    def _on_runway(self) -> None:
        self._runway_timer = None
        if self._queue.empty() and not self._placing and not self.final:
            self._overdue = True
            for segment in self._segmenter.runway():
                self._put(segment)
            self._arm()

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            started = self._now_ms()
            self._placing = True
            try:
                deadline = await self._say(item[0], self.options, item[1])
            finally:
                self._placing = False
            if len(item[0].split()) <= SHORT_WORDS:
                self.place_ms.append(self._now_ms() - started)
            self._watch(deadline)
