"""Speech said live on a channel (I/O): text in, whole or in pieces; segments spoken in order.

A :class:`Speaker` holds one stream of text (an id, the voice options, a segmenter). Inline
emotion tags (``[happy]``, or any of the rig's expressions) are taken out of the text and set
the face of their segment and the ones after it. Text is cut
into segments as it arrives (:mod:`streamer.speech.synthesis.segmenter`); one task speaks them in order,
each as soon as the one before it is placed, so a segment is synthesized while the previous one
plays and the channel appends it where that one's audio ends. Cancelling drops the queued text
and the synthesis in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from streamer.server.speech import SayOptions
from streamer.speech.synthesis.segmenter import EMOTION_TAG, Segmenter, speakable

# Said: (speakable text, options, emotion tag or None) -> placed on the channel. Errors are the callback's.
SaySegment = Callable[[str, SayOptions, str | None], Awaitable[None]]


class Speaker:
    """One stream of text spoken on a channel."""

    def __init__(self, stream: str, options: SayOptions, say_segment: SaySegment, now_ms: Callable[[], int]) -> None:
        self.stream, self.options = stream, options
        self._say, self._now_ms = say_segment, now_ms
        self._segmenter = Segmenter()
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
        if final:
            self.final = True
            for segment in self._segmenter.finish():
                self._put(segment)
            self._queue.put_nowait(None)
        self._arm()

    def cancel(self) -> None:
        """Drop the queued text and stop the synthesis in flight."""
        if self._timer is not None:
            self._timer.cancel()
        self.task.cancel()

    def _put(self, segment: str) -> None:
        tags = EMOTION_TAG.findall(segment)
        if tags:
            self.emotion = tags[-1]  # it holds for the segments after it, until the next tag
        text = speakable(EMOTION_TAG.sub(" ", segment)).strip()
        text = " ".join(text.split())
        if any(ch.isalnum() for ch in text):  # punctuation, Markdown or a tag alone says nothing
            self.segments += 1
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

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            await self._say(item[0], self.options, item[1])
