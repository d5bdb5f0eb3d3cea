"""S3 misbehaving, through the fault proxy: bounded waits, 503 + Retry-After, no truncated frames,
cached frames keep serving, live viewers hear about it, and recovery needs no restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.s3.conftest import FaultProxy
from tests.server.conftest import LiveServer

MakeS3Server = Callable[..., LiveServer]
CACHED = "endpoints/neutral__center.png"
UNCACHED = "sequences/neutral_to_concerned__nod_up_small/025.png"
OTHER = "sequences/neutral_to_concerned__nod_up_small/050.png"
HANG_BOUND_S = 20  # generous: the configured bound is about 3 s, the client gives up at 30 s


@pytest.fixture
def server(s3_server: MakeS3Server, proxy: FaultProxy, filled_bucket: str) -> LiveServer:
    return s3_server(s3_bucket=filled_bucket, s3_endpoint_url=proxy.url, prefetch=False)


def get(server: LiveServer, key: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = httpx.get(f"{server.base_url}/frames/{key}", timeout=30)
    return r, time.monotonic() - started


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "2"
    assert r.json()["error"].startswith("s3: ")


def test_added_latency_only_slows_the_first_fetch(server: LiveServer, proxy: FaultProxy, small_rig: Path) -> None:
    proxy.latency_s = 0.3
    r, first = get(server, UNCACHED)
    assert r.status_code == 200 and r.content == (small_rig / UNCACHED).read_bytes()
    assert first >= 0.3  # a lower bound: the proxy's delay, which no machine can beat
    r, _ = get(server, UNCACHED)
    assert r.status_code == 200 and r.content == (small_rig / UNCACHED).read_bytes()
    assert proxy.gets(UNCACHED) == 1  # the second answer came from the cache, not through the slow proxy


@pytest.mark.parametrize("mode", ["cut", "slowdown", "hang"])
def test_store_faults_give_a_bounded_503_while_cached_frames_keep_serving_then_recover(
    server: LiveServer, proxy: FaultProxy, small_rig: Path, mode: str
) -> None:
    assert get(server, CACHED)[0].status_code == 200
    proxy.fault(mode)
    r, waited = get(server, UNCACHED)
    assert_unavailable(r)
    # 2 attempts x (0.5 s connect + 1 s read) plus backoff is about 3 s; a hang must not reach the
    # client's own 30 s patience.
    assert waited < HANG_BOUND_S
    before = proxy.gets(CACHED)
    cached, _ = get(server, CACHED)
    assert cached.status_code == 200 and cached.content == (small_rig / CACHED).read_bytes()
    assert proxy.gets(CACHED) == before  # served from the cache while S3 misbehaves
    proxy.fault("pass")
    r, _ = get(server, UNCACHED)
    assert r.status_code == 200 and r.content == (small_rig / UNCACHED).read_bytes()
    frames = httpx.get(server.base_url + "/metrics.json", timeout=10).json()["frames"]
    assert frames["errors"] >= 1


def test_slowdown_is_retried_by_botocore_in_standard_mode(server: LiveServer, proxy: FaultProxy) -> None:
    proxy.fault("slowdown")
    assert_unavailable(get(server, UNCACHED)[0])
    assert proxy.gets(UNCACHED) == server.settings.s3_max_attempts


def test_refused_connections_then_recovery(server: LiveServer, proxy: FaultProxy, small_rig: Path) -> None:
    assert get(server, CACHED)[0].status_code == 200
    proxy.refuse()
    r, waited = get(server, UNCACHED)
    assert_unavailable(r)
    assert waited < HANG_BOUND_S
    assert get(server, CACHED)[0].status_code == 200
    proxy.accept()
    r, _ = get(server, UNCACHED)
    assert r.status_code == 200 and r.content == (small_rig / UNCACHED).read_bytes()


def test_a_body_cut_halfway_is_fetched_again_and_never_served_truncated(
    server: LiveServer, proxy: FaultProxy, small_rig: Path
) -> None:
    whole = (small_rig / UNCACHED).read_bytes()
    proxy.fault("cut_body", times=1)
    r, _ = get(server, UNCACHED)
    assert r.status_code == 200 and r.content == whole
    assert proxy.gets(UNCACHED) == 2  # the cut body, then the whole one

    proxy.fault("cut_body")  # every time: never cached, never served short
    assert_unavailable(get(server, OTHER)[0])
    assert OTHER not in server.app.state.server.store
    proxy.fault("pass")
    r, _ = get(server, OTHER)
    assert r.status_code == 200 and r.content == (small_rig / OTHER).read_bytes()


def test_live_viewers_get_a_store_unavailable_error_when_prefetch_fails(
    s3_server: MakeS3Server, proxy: FaultProxy, filled_bucket: str
) -> None:
    server = s3_server(s3_bucket=filled_bucket, s3_endpoint_url=proxy.url)

    async def watch() -> dict[str, object]:
        async with connect(f"ws://127.0.0.1:{server.port}/ws?channel=main&role=controller") as ws:
            proxy.fault("slowdown")
            await ws.send(json.dumps({"type": "set", "id": 1, "expr": "concerned", "pose": "nod_up_small"}))
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["type"] == "error":
                    return dict(message)

    error = asyncio.run(watch())
    assert error["code"] == "store_unavailable"
    assert "SlowDown" in str(error["message"])
