"""Bounds on heavy public work: a few requests at a time, the rest 429; big JSON encoded off the loop.

Validating a 5 MB timeline or building a 60 fps schedule costs tens of milliseconds of CPU
and tens of megabytes. These routes need no token, so without a bound a stranger could
stack them until memory runs out and the event loop (and every live frame) stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from streamer.core.errors import StreamerError

RETRY_AFTER_S = 1
# Items per json.dumps call when encoding a big list: each call holds the GIL for about a
# millisecond, so the event loop's thread gets it back between calls.
ENCODE_CHUNK_ITEMS = 2000


class Busy(StreamerError):
    """Too many heavy requests at once (HTTP 429 with Retry-After)."""

    retry_after_s = RETRY_AFTER_S


class HeavyWork:
    """At most ``slots`` heavy requests at once; one more is refused at once, not queued."""

    def __init__(self, slots: int) -> None:
        self.slots = self.free = slots

    @contextlib.asynccontextmanager
    async def slot(self, what: str) -> AsyncIterator[None]:
        """Hold a slot for the body of the ``async with``; raises :class:`Busy` when none is free."""
        if self.free <= 0:
            raise Busy(f"too many {what} requests at once (at most {self.slots}); retry in {RETRY_AFTER_S} s")
        self.free -= 1
        try:
            yield
        finally:
            self.free += 1


def _pieces(value: Any) -> Iterator[str]:
    if isinstance(value, list) and len(value) > ENCODE_CHUNK_ITEMS:
        yield "["
        for i in range(0, len(value), ENCODE_CHUNK_ITEMS):
            yield ("," if i else "") + json.dumps(value[i : i + ENCODE_CHUNK_ITEMS], separators=(",", ":"))[1:-1]
        yield "]"
    elif isinstance(value, dict):
        yield "{"
        for n, (key, item) in enumerate(value.items()):
            yield ("," if n else "") + json.dumps(str(key)) + ":"
            yield from _pieces(item)
        yield "}"
    else:
        yield json.dumps(value, separators=(",", ":"))


def encode_json(value: Any) -> bytes:
    """``value`` as compact JSON bytes, encoded in small steps (run it in a thread)."""
    return "".join(_pieces(value)).encode("utf-8")


async def encode_json_off_loop(value: Any) -> bytes:
    return await asyncio.to_thread(encode_json, value)
