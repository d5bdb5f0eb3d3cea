"""``GET /metrics`` and ``GET /metrics.json``: every server process's figures (I/O: Redis with ``REDIS_URL``).

Each process takes a snapshot of its own figures when asked (:class:`ProcessFigures`: the
channels it runs, its viewers, what it wrote to them, its frame cache, its CPU and memory).
A scrape reaches one process, so with ``REDIS_URL`` each process also publishes its snapshot
to Redis every ``PUBLISH_EVERY_S`` under a key that expires after ``SNAPSHOT_TTL_MS``
(:class:`RedisBoard`), and the process scraped renders its own fresh snapshot and every other
live process's latest, each under its ``process`` label. A process that stops deletes its key;
one that dies drops out when its key expires. Without ``REDIS_URL`` there is one process and
nothing is published (:class:`LocalBoard`). The export jobs are one service for every process
(in Redis) and are rendered once, without a ``process`` label. docs/scaling.md, "Metrics".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import ProcessCollector
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from streamer.core.errors import StoreUnavailable
from streamer.server.exposition import Exposition
from streamer.server.state import state

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from streamer.cache import CachedFrameStore
    from streamer.server.channels import ChannelService

log = logging.getLogger(__name__)

PUBLISH_EVERY_S = 2.0  # another process's series are at most this old (plus a Redis round trip)
SNAPSHOT_TTL_MS = 10_000  # a process that stopped publishing (dead, or stalled) drops out after this
INDEX_KEY = "streamer:metrics:processes"  # the set of processes that published a snapshot
SNAPSHOT_KEY = "streamer:metrics:process:"  # + process: its latest snapshot (JSON), expiring


def os_figures() -> dict[str, float]:
    """CPU seconds, memory, open files and start time, as prometheus_client's process collector reads them.

    Keyed by the collector's family names (``process_cpu_seconds``, ...); empty where it
    cannot read them (it reads Linux's /proc).
    """
    families = ProcessCollector(registry=None).collect()
    return {family.name: family.samples[0].value for family in families if family.samples}


class ProcessFigures:
    """This process's figures, read when asked (no I/O)."""

    def __init__(self, channels: ChannelService, frames: CachedFrameStore) -> None:
        self.channels, self.frames = channels, frames
        # Readable and unique among the processes sharing a Redis (hostnames differ between machines
        # and containers; an export worker's heartbeat is named the same way).
        self.process = f"{socket.gethostname()}:{os.getpid()}"

    def snapshot(self) -> dict[str, Any]:
        """``{process, channels, viewers {viewer, controller}, waiting, sent {...}, frames {...}, os {...}}``."""
        return {
            "process": self.process,
            **self.channels.figures(),
            "frames": self.frames.stats(),
            "os": os_figures(),
        }


class MetricsBoard(Protocol):
    """Where a process finds the other processes' snapshots."""

    figures: ProcessFigures

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def others(self) -> list[dict[str, Any]]:
        """The latest snapshot of every other live process; raises :class:`StoreUnavailable` if they cannot be read."""
        ...


class LocalBoard:
    """One process (no ``REDIS_URL``): there are no others."""

    def __init__(self, figures: ProcessFigures) -> None:
        self.figures = figures

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def others(self) -> list[dict[str, Any]]:
        return []


class RedisBoard:
    """Publishes this process's snapshot to Redis every ``PUBLISH_EVERY_S`` and reads the others'."""

    def __init__(self, redis: Redis, figures: ProcessFigures) -> None:
        self.redis, self.figures = redis, figures
        self._key = SNAPSHOT_KEY + figures.process
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._publish_forever(), name="metrics-publish")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):  # Redis may be gone: the key then expires by itself
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._key)
                pipe.srem(INDEX_KEY, self.figures.process)
                await pipe.execute()

    async def publish(self) -> None:
        snapshot = json.dumps(self.figures.snapshot(), separators=(",", ":"))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key, snapshot, px=SNAPSHOT_TTL_MS)
            pipe.sadd(INDEX_KEY, self.figures.process)
            await pipe.execute()

    async def _publish_forever(self) -> None:
        failing = False
        while True:
            try:
                await self.publish()
            except Exception as exc:  # noqa: BLE001 - Redis down: try again next time, say so once
                if not failing:
                    log.warning("metrics: cannot publish this process's snapshot to Redis: %s", exc)
                failing = True
            else:
                failing = False
            await asyncio.sleep(PUBLISH_EVERY_S)

    async def others(self) -> list[dict[str, Any]]:
        try:
            names = sorted(str(name) for name in await self.redis.smembers(INDEX_KEY) if name != self.figures.process)
            values = await self.redis.mget([SNAPSHOT_KEY + name for name in names]) if names else []
            gone = [name for name, value in zip(names, values, strict=True) if value is None]
            if gone:  # expired: that process stopped without saying so
                await self.redis.srem(INDEX_KEY, *gone)
        except Exception as exc:  # noqa: BLE001 - redis-py raises RedisError, OSError or timeouts
            raise StoreUnavailable(f"cannot read the other processes' metrics from Redis: {exc}") from exc
        return [json.loads(value) for value in values if value is not None]


async def _gather(request: Request) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    """This process's snapshot, the other processes' and the export jobs' (None where Redis failed)."""
    server = state(request)
    board = server.metrics
    own = board.figures.snapshot()
    others: list[dict[str, Any]] = []
    exports = None
    try:
        others = await board.others()
    except StoreUnavailable as exc:
        log.warning("metrics: %s; showing this process only", exc)
    try:
        exports = await server.exports.stats()
    except StoreUnavailable as exc:
        log.warning("metrics: no export figures: %s", exc)
    return own, others, exports


async def metrics(request: Request) -> Response:
    """Prometheus's text format (or OpenMetrics when the scraper asks for it in ``Accept``)."""
    own, others, exports = await _gather(request)
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    body = encoder(Exposition([own, *others], exports))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


async def metrics_json(request: Request) -> Response:
    """The same figures as JSON: this process's at the top level, the others' under ``others``."""
    own, others, exports = await _gather(request)
    return JSONResponse({**own, "exports": exports, "others": others}, headers={"Cache-Control": "no-store"})


def metrics_routes() -> list[BaseRoute]:
    return [
        Route("/metrics", metrics, methods=["GET"]),
        Route("/metrics.json", metrics_json, methods=["GET"]),
    ]
