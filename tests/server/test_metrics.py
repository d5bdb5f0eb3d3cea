"""``GET /metrics`` on one process: Prometheus's text format, parsed by prometheus_client, following real traffic."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect

from tests.reliability.conftest import ServerProcess
from tests.server.conftest import LiveServer

TIMEOUT = 15


class Scrape:
    """One ``GET /metrics``, parsed: sample values by name and labels."""

    def __init__(self, base_url: str) -> None:
        response = httpx.get(base_url + "/metrics", timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        self.families = {f.name: f for f in text_string_to_metric_families(response.text)}

    def value(self, name: str, **labels: str) -> float:
        """The one sample of ``name`` whose labels include ``labels``."""
        family = self.families[name.removesuffix("_total")]
        found = [s.value for s in family.samples if s.name == name and labels.items() <= s.labels.items()]
        assert len(found) == 1, (name, labels, family.samples)
        return found[0]

    def processes(self) -> set[str]:
        return {s.labels["process"] for s in self.families["streamer_channels"].samples}


def ws_url(port: int, role: str = "viewer", channel: str = "main") -> str:
    return f"ws://127.0.0.1:{port}/ws?channel={channel}&role={role}"


async def read_until(ws: ClientConnection, kind: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    """Read (keeping every message in ``seen``) until a message of type ``kind``."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        seen.append(message)
        if message["type"] == kind:
            return message


async def test_metrics_follow_viewers_messages_and_the_frame_cache(server: LiveServer) -> None:
    before = Scrape(server.base_url)
    (process,) = before.processes()
    assert before.value("streamer_channels", process=process) == 1  # "main" exists from the start
    assert before.value("streamer_viewers", role="viewer") == 0
    sent_before = before.value("streamer_messages_sent_total")

    async with (
        connect(ws_url(server.port)) as a,
        connect(ws_url(server.port)) as b,
        connect(ws_url(server.port, "controller")) as ctl,
    ):
        seen: dict[ClientConnection, list[dict[str, Any]]] = {a: [], b: [], ctl: []}
        for ws in seen:  # joining: hello, then the frames from now (sent to this viewer alone)
            await read_until(ws, "hello", seen[ws])
            await read_until(ws, "frames", seen[ws])
        joined = {ws: len(messages) for ws, messages in seen.items()}
        httpx.post(server.base_url + "/channels/main/set", json={"expr": "happy_soft"}, timeout=10).raise_for_status()
        for ws in seen:  # the command's re-plan reaches everyone, then its new state
            await read_until(ws, "state", seen[ws])
        during = Scrape(server.base_url)
        assert during.value("streamer_viewers", process=process, role="viewer") == 2
        assert during.value("streamer_viewers", process=process, role="controller") == 1
        # Every channel message each connection read after joining was counted (one per viewer) before this scrape.
        broadcasts = sum(len(messages) - joined[ws] for ws, messages in seen.items())
        assert broadcasts >= 6  # frames and state, to three
        assert during.value("streamer_messages_sent_total") - sent_before >= broadcasts
        frames_read = sum(
            len(m["frames"]) for ws, ms in seen.items() for m in ms[joined[ws] :] if m["type"] == "frames"
        )
        assert during.value("streamer_frames_sent_total") >= frames_read > 0
        assert 0 <= during.value("streamer_late_frames_total") <= during.value("streamer_frames_sent_total")

    # The frame cache: a request is a hit or a miss, whatever prefetch did meanwhile.
    key = "/frames/endpoints/neutral__center.png"
    hits, misses = during.value("streamer_frame_cache_hits_total"), during.value("streamer_frame_cache_misses_total")
    for _ in range(2):
        assert httpx.get(server.base_url + key, timeout=10).status_code == 200
    deadline = time.monotonic() + TIMEOUT
    while (after := Scrape(server.base_url)).value("streamer_viewers", role="viewer") != 0:  # closed: counted out
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    asked = (
        after.value("streamer_frame_cache_hits_total")
        - hits
        + after.value("streamer_frame_cache_misses_total")
        - misses
    )
    assert asked == 2 and after.value("streamer_frame_cache_hits_total") - hits >= 1
    assert after.value("process_cpu_seconds_total", process=process) > 0
    assert after.value("process_resident_memory_bytes", process=process) > 10e6


def test_openmetrics_when_the_scraper_asks_for_it_and_json_at_metrics_json(server: LiveServer) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"  # Prometheus's
    response = httpx.get(server.base_url + "/metrics", headers={"Accept": accept}, timeout=10)
    assert response.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    families = {f.name: f for f in openmetrics_families(response.text)}
    assert families["streamer_messages_sent"].type == "counter"
    assert families["streamer_viewers"].type == "gauge"

    doc = httpx.get(server.base_url + "/metrics.json", timeout=10).json()
    scrape = Scrape(server.base_url)
    assert doc["process"] == next(iter(scrape.processes()))
    assert doc["channels"] == 1 and doc["others"] == []
    assert doc["exports"] == {
        "jobs": {s: 0 for s in ("queued", "running", "done", "failed", "cancelled")},
        "workers": None,
    }
    assert set(doc["frames"]) >= {"hits", "misses", "hit_ratio"}


def test_export_jobs_by_state(server: LiveServer) -> None:
    with server.client(timeout=30) as c:
        job = c.post("/exports", json={"timeline_id": "hello", "options": {"format": "mp4", "scale": 0.25}}).json()
        deadline = time.monotonic() + 60
        while job["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
            job = c.get(f"/exports/{job['id']}").json()
    assert job["status"] == "done", job
    scrape = Scrape(server.base_url)
    jobs = {s.labels["state"]: s.value for s in scrape.families["streamer_export_jobs"].samples}
    assert jobs == {"queued": 0, "running": 0, "done": 1, "failed": 0, "cancelled": 0}
    assert "process" not in scrape.families["streamer_export_jobs"].samples[0].labels  # one service, not per process
    assert "streamer_export_workers" not in scrape.families  # no REDIS_URL: no worker processes


async def test_frames_written_after_their_time_count_as_late(rig_dir: Path, tmp_path: Path) -> None:
    """A process frozen (SIGSTOP) past its lookahead writes the frames it owed late: they are counted."""
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log", rig_dir)
    server.start()
    try:
        async with connect(ws_url(server.port)) as viewer:
            await read_until(viewer, "hello", [])
            with server.client() as c:
                c.post("/channels/main/play", json={"timeline_id": "hello"}).raise_for_status()
            await read_until(viewer, "program_start", [])
            before = Scrape(server.base_url)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGSTOP)  # longer than the 1.5 s lookahead, while the mouth moves
            await asyncio.sleep(3)
            server.proc.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + TIMEOUT
            while (after := Scrape(server.base_url)).value("streamer_late_frames_total") == before.value(
                "streamer_late_frames_total"
            ):
                assert time.monotonic() < deadline, "no late frame counted"
                await asyncio.sleep(0.1)
        counted = after.value("streamer_late_frames_total") - before.value("streamer_late_frames_total")
        assert 0 < counted <= after.value("streamer_frames_sent_total") - before.value("streamer_frames_sent_total")
    finally:
        server.stop()
