"""The frame cache: single flight, byte budget, prefetch along the live plan."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

import tests.s3.conftest as s3_fixtures
from streamer.cache import CachedFrameStore
from streamer.core.errors import StoreUnavailable
from streamer.frames import FrameData, LocalFrameStore, etag_of
from tests.s3.conftest import FaultProxy
from tests.server.conftest import LiveServer

# tests/s3's fixtures: moto on loopback, the fault proxy in front of it, a filled bucket, a server on S3.
aws_env, moto_url, proxy = s3_fixtures.aws_env, s3_fixtures.moto_url, s3_fixtures.proxy
small_rig, filled_bucket, s3_server = s3_fixtures.small_rig, s3_fixtures.filled_bucket, s3_fixtures.s3_server

MakeS3Server = Callable[..., LiveServer]


def metrics(server: LiveServer) -> dict[str, float]:
    return dict(httpx.get(server.base_url + "/metrics.json", timeout=10).json()["frames"])


def test_200_concurrent_requests_for_one_uncached_frame_make_one_get_object(
    s3_server: MakeS3Server, proxy: FaultProxy, filled_bucket: str, small_rig: Path
) -> None:
    server = s3_server(s3_bucket=filled_bucket, s3_endpoint_url=proxy.url, prefetch=False)
    key = "sequences/neutral_to_happy_soft__tilt_left_small/050.png"
    proxy.latency_s = 0.2  # every asker arrives while the one fetch is in flight
    before = metrics(server)

    async def fetch_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=20, limits=limits) as c:
            return await asyncio.gather(*(c.get("/frames/" + key) for _ in range(200)))

    responses = asyncio.run(fetch_all())
    assert {r.status_code for r in responses} == {200}
    assert {r.content for r in responses} == {(small_rig / key).read_bytes()}
    after = metrics(server)
    assert after["store_gets"] - before["store_gets"] == 1
    assert proxy.gets("/frames/" + key) == 1
    assert after["hits"] + after["misses"] - before["hits"] - before["misses"] == 200


def test_byte_budget_is_respected_under_churn(small_rig: Path) -> None:
    keys = sorted(p.relative_to(small_rig).as_posix() for p in small_rig.rglob("*.png"))
    sizes = {k: (small_rig / k).stat().st_size for k in keys}
    budget = sum(sorted(sizes.values())[:20])  # about 20 frames' worth, for 377 frames

    async def churn() -> CachedFrameStore:
        cache = CachedFrameStore(LocalFrameStore(small_rig), budget, concurrency=4)
        rng = random.Random(7)
        for _ in range(30):
            batch = rng.sample(keys, 40)
            got = await asyncio.gather(*(cache.get(k) for k in batch + batch[:10]))
            assert [len(g.data) for g in got] == [sizes[k] for k in batch + batch[:10]]
            held = [k for k in keys if k in cache]
            assert cache.counters.bytes == sum(sizes[k] for k in held) <= budget
        return cache

    cache = asyncio.run(churn())
    assert cache.counters.evictions > 0
    assert cache.counters.hits > 0  # the repeated keys of a batch share a fetch or hit
    assert cache.counters.store_gets <= 30 * 40


def test_prefetch_warms_the_next_window_before_viewers_ask(
    s3_server: MakeS3Server, proxy: FaultProxy, filled_bucket: str
) -> None:
    server = s3_server(s3_bucket=filled_bucket, s3_endpoint_url=proxy.url)

    async def watch_a_change() -> list[str]:
        async with connect(f"ws://127.0.0.1:{server.port}/ws?channel=main&role=controller") as ws:
            await ws.send(json.dumps({"type": "set", "id": 1, "expr": "happy_big", "transition_ms": 600}))
            replan: list[str] = []
            while True:  # the re-plan is the last frames message before the ack
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["type"] == "frames":
                    replan = [url for _, url in message["frames"]]
                if message["type"] == "ack":
                    return replan

    urls = asyncio.run(watch_a_change())
    assert any("happy_big" in u for u in urls)
    deadline = time.monotonic() + 5
    while metrics(server)["prefetches"] == 0 or server.app.state.server.store._inflight:
        assert time.monotonic() < deadline, "prefetch did not finish"
        time.sleep(0.02)
    gets_before, m_before = proxy.gets(), metrics(server)
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        for url in urls:
            assert c.get(url).status_code == 200
    m_after = metrics(server)
    assert proxy.gets() == gets_before  # every URL pushed to viewers was already warm
    assert m_after["hits"] - m_before["hits"] == len(urls)
    assert m_after["misses"] == m_before["misses"]


class FlakyStore:
    """A frame store that fails while ``down`` (a FrameStore, not a patched client)."""

    def __init__(self) -> None:
        self.down = True
        self.asked: list[str] = []

    async def get(self, key: str) -> FrameData:
        self.asked.append(key)
        await asyncio.sleep(0.01)
        if self.down:
            raise StoreUnavailable(f"s3: SlowDown while getting {key!r}")
        return FrameData(key.encode(), etag_of(key.encode()))


def test_failures_are_reported_never_cached_and_retried_on_the_next_ask() -> None:
    async def scenario() -> tuple[CachedFrameStore, FlakyStore, list[str]]:
        store = FlakyStore()
        cache = CachedFrameStore(store, 1 << 20)
        failed: list[str] = []
        reported = asyncio.Event()

        def report(key: str, exc: Exception) -> None:
            failed.append(key)
            if len(failed) == 2:
                reported.set()

        assert cache.prefetch(["a/1.png", "a/2.png", "a/1.png"], report) == 2
        await asyncio.wait_for(reported.wait(), 10)  # both prefetches have failed and said so
        assert "a/1.png" not in cache
        store.down = False
        assert (await cache.get("a/1.png")).data == b"a/1.png"
        return cache, store, failed

    cache, store, failed = asyncio.run(scenario())
    assert failed == ["a/1.png", "a/2.png"]
    assert store.asked == ["a/1.png", "a/2.png", "a/1.png"]  # in order, then the retry
    assert cache.counters.errors == 2 and cache.counters.store_gets == 3 and cache.counters.bytes == 7
