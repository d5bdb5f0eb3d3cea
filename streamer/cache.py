"""A byte-bounded LRU cache in front of any frame store, with single-flight fetches and prefetch (I/O).

:class:`CachedFrameStore` is itself a :class:`~streamer.frames.FrameStore`. Every key has at
most one fetch in flight, shared by every caller (a request, a prefetch); fetches toward the
store are bounded by a semaphore, and asyncio's semaphore is FIFO, so a prefetch issued in
presentation order is fetched in that order. Failures are never cached: the next ask retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from streamer.core.errors import StreamerError
from streamer.core.keys import validate_key
from streamer.frames import FrameData, FrameStore

log = logging.getLogger(__name__)

ErrorSink = Callable[[str, Exception], None]


@dataclass
class CacheCounters:
    """What the cache did since start. ``hit_ratio`` is over requests (``get``), not prefetches."""

    hits: int = 0  # get() answered from memory
    misses: int = 0  # get() that had to wait for a fetch (its own or one in flight)
    store_gets: int = 0  # fetches started toward the store (one per key however many ask)
    prefetches: int = 0  # keys handed to prefetch() that were neither cached nor in flight
    errors: int = 0  # fetches that failed (not found, unavailable, ...)
    evictions: int = 0
    bytes: int = 0  # bytes held now
    entries: int = 0  # frames held now

    def to_json(self, capacity_bytes: int) -> dict[str, float | int]:
        asked = self.hits + self.misses
        return {
            **asdict(self),
            "capacity_bytes": capacity_bytes,
            "hit_ratio": round(self.hits / asked, 4) if asked else 0.0,
        }


class CachedFrameStore:
    """``store`` behind an LRU of at most ``capacity_bytes``, with ``concurrency`` fetches at once.

    A frame larger than the whole budget is served but not kept.
    """

    def __init__(self, store: FrameStore, capacity_bytes: int, concurrency: int = 16) -> None:
        if capacity_bytes < 0 or concurrency < 1:
            raise ValueError(f"cache: bad capacity {capacity_bytes} or concurrency {concurrency}")
        self.store = store
        self.capacity_bytes = capacity_bytes
        self.counters = CacheCounters()
        self._entries: OrderedDict[str, FrameData] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[FrameData]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._background: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"CachedFrameStore({self.store!r}, capacity_bytes={self.capacity_bytes})"

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def stats(self) -> dict[str, float | int]:
        """The counters as JSON, with the capacity and the hit ratio."""
        return self.counters.to_json(self.capacity_bytes)

    def peek(self, key: str) -> FrameData | None:
        """The frame if it is held now; counts nothing and does not refresh it in the LRU."""
        return self._entries.get(key)

    async def get(self, key: str) -> FrameData:
        """The frame for ``key``, from memory or through the one fetch in flight for it.

        Raises what the store raises (:class:`InvalidKey`, :class:`NotFound`,
        :class:`StoreUnavailable`); a caller that is cancelled does not cancel the shared fetch.
        """
        validate_key(key)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self.counters.hits += 1
            return found
        self.counters.misses += 1
        return await asyncio.shield(self._flight(key))

    def prefetch(self, keys: Iterable[str], on_error: ErrorSink | None = None) -> int:
        """Fetch the ``keys`` not yet cached or in flight, in the order given, in the background.

        The first key is fetched alone, then the rest: after a re-plan the first frame is the
        most urgent, and a store that serves concurrent GETs more slowly (a small MinIO, moto)
        would otherwise delay it. Returns at once with how many keys will be fetched;
        ``on_error(key, exc)`` is called (on the loop) for each fetch that fails. Invalid keys
        are skipped with a warning.
        """
        todo: list[str] = []
        for key in dict.fromkeys(keys):
            if key in self._entries or key in self._inflight:
                continue
            try:
                validate_key(key)
            except StreamerError as exc:
                log.warning("prefetch: skipping %s", exc)
                continue
            todo.append(key)
        if todo:
            self.counters.prefetches += len(todo)
            first = self._flight(todo[0])
            warmer = asyncio.create_task(self._warm(todo, first, on_error))
            self._background.add(warmer)
            warmer.add_done_callback(self._background.discard)
        return len(todo)

    async def _warm(self, todo: list[str], first: asyncio.Task[FrameData], on_error: ErrorSink | None) -> None:
        await self._report(todo[0], first, on_error)
        rest = [(key, self._flight(key)) for key in todo[1:] if key not in self._entries]
        for key, task in rest:
            await self._report(key, task, on_error)

    async def _report(self, key: str, task: asyncio.Task[FrameData], on_error: ErrorSink | None) -> None:
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
        except Exception as exc:  # noqa: BLE001 - reported to the sink, counted in _fetch
            if on_error is not None:
                on_error(key, exc)

    def _flight(self, key: str) -> asyncio.Task[FrameData]:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(key), name=f"fetch {key}")
            self._inflight[key] = task
            # Retrieve the exception even if every waiter went away, so asyncio never warns.
            task.add_done_callback(_consume)
        return task

    async def _fetch(self, key: str) -> FrameData:
        try:
            async with self._slots:
                self.counters.store_gets += 1
                try:
                    data = await self.store.get(key)
                except Exception:
                    self.counters.errors += 1
                    raise
            self._keep(key, data)
            return data
        finally:
            self._inflight.pop(key, None)

    def _keep(self, key: str, data: FrameData) -> None:
        size = len(data.data)
        if size > self.capacity_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.counters.bytes -= len(old.data)
        self._entries[key] = data
        self.counters.bytes += size
        while self.counters.bytes > self.capacity_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.counters.bytes -= len(evicted.data)
            self.counters.evictions += 1
        self.counters.entries = len(self._entries)

    async def close(self) -> None:
        """Cancel fetches in flight (at shutdown)."""
        tasks = [*self._inflight.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class BudgetedFrameStore:
    """Frames for work that must not crowd out another's: read ``shared`` without filling it.

    A frame ``shared`` holds is used as it is (no fetch, no LRU refresh); any other comes
    through ``own``, a cache with a budget of its own. Exports read this way, so that rendering
    a long video never evicts the frames live viewers are being sent.
    """

    def __init__(self, shared: CachedFrameStore, own: CachedFrameStore) -> None:
        self.shared = shared
        self.own = own

    def __repr__(self) -> str:
        return f"BudgetedFrameStore({self.own.store!r}, capacity_bytes={self.own.capacity_bytes})"

    async def get(self, key: str) -> FrameData:
        validate_key(key)
        found = self.shared.peek(key)
        return found if found is not None else await self.own.get(key)


def _consume(task: asyncio.Task[FrameData]) -> None:
    if not task.cancelled():
        task.exception()
