"""``GET /metrics`` with several processes on Redis: a scrape of any one shows every live process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.reliability.conftest import ServerProcess
from tests.scale.conftest import Cluster
from tests.server.test_metrics import Scrape, read_until, ws_url

TIMEOUT = 20


async def scrape_until(server: ServerProcess, done: Callable[[Scrape], bool]) -> Scrape:
    """Scrape ``server`` until ``done`` holds (another process's figures are at most 2 s old)."""
    deadline = time.monotonic() + TIMEOUT
    while not done(scrape := Scrape(server.base_url)):
        assert time.monotonic() < deadline, {name: f.samples for name, f in scrape.families.items() if "view" in name}
        await asyncio.sleep(0.2)
    return scrape


def label(server: ServerProcess) -> str:
    """The ``process`` label of ``server``: host:pid."""
    assert server.proc is not None
    (process,) = [p for p in Scrape(server.base_url).processes() if p.endswith(f":{server.proc.pid}")]
    return process


async def test_one_scrape_shows_both_processes_and_their_own_traffic(cluster: Cluster) -> None:
    a, b, c = cluster.start(3)
    pa, pb, pc = label(a), label(b), label(c)
    for server in (a, b, c):  # any process, scraped, shows them all
        await scrape_until(server, lambda s: s.processes() == {pa, pb, pc})
    c.stop()  # a process that stops takes its series with it at once
    assert Scrape(a.base_url).processes() == {pa, pb}
    sent_b = Scrape(a.base_url).value("streamer_messages_sent_total", process=pb)

    async with connect(ws_url(a.port)) as v1, connect(ws_url(a.port)) as v2, connect(ws_url(b.port)) as v3:
        for ws in (v1, v2, v3):
            await read_until(ws, "hello", [])
        response = httpx.post(b.base_url + "/channels/main/set", json={"expr": "happy_soft"}, timeout=TIMEOUT)
        assert response.status_code == 200, response.text  # forwarded to the owner, wherever it runs
        for ws in (v1, v2, v3):
            await read_until(ws, "state", [])

        def counted(s: Scrape) -> bool:
            return (
                s.value("streamer_viewers", process=pa, role="viewer") == 2
                and s.value("streamer_viewers", process=pb, role="viewer") == 1
                and s.value("streamer_messages_sent_total", process=pb) > sent_b
            )

        scrape = await scrape_until(a, counted)  # b's figures, as b published them to Redis
        assert await scrape_until(b, counted)  # ... and the other way round
    # "main" runs in exactly one process.
    assert sum(s.value for s in scrape.families["streamer_channels"].samples) == 1
    # The export queue is one for both: its series come once, without a process label.
    jobs = scrape.families["streamer_export_jobs"].samples
    assert {s.labels["state"]: s.value for s in jobs} == {
        "queued": 0,
        "running": 0,
        "done": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert scrape.value("streamer_export_workers") == 0  # no `streamer worker` running

    doc: dict[str, Any] = httpx.get(a.base_url + "/metrics.json", timeout=TIMEOUT).json()
    assert doc["process"] == pa and [other["process"] for other in doc["others"]] == [pb]
    assert doc["exports"]["workers"] == 0

    b.kill()  # one that dies drops out when its last snapshot expires (10 s)
    await scrape_until(a, lambda s: s.processes() == {pa})


def parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


async def test_serve_with_workers_any_worker_scraped_shows_both(cluster: Cluster) -> None:
    (server,) = cluster.start(1, STREAMER_WORKERS="2")
    scrape = await scrape_until(server, lambda s: len(s.processes()) == 2)
    assert server.proc is not None
    pids = {int(process.rpartition(":")[2]) for process in scrape.processes()}
    assert {parent_pid(pid) for pid in pids} == {server.proc.pid}  # the two workers uvicorn started
    answered = set()
    for _ in range(8):  # a new connection each time: SO_REUSEPORT hands it to either worker
        doc = httpx.get(server.base_url + "/metrics.json", timeout=TIMEOUT).json()
        answered.add(doc["process"])
        assert {doc["process"], *(other["process"] for other in doc["others"])} == scrape.processes()
    assert answered <= scrape.processes()
