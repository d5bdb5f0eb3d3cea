"""Export workers: with REDIS_URL, jobs go on the Redis queue and `streamer worker` processes render them.

Real processes on loopback: redis-server, `streamer serve` (one or two) and `streamer worker`
(killed with SIGKILL where a test says so), sharing one data folder as they would share storage.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import connect

from benchmarks.workloads import lipsync_timeline
from streamer.cli import main
from streamer.export.queue import JOB_KEY
from streamer.export.render import TEMP_SUFFIX
from tests.export.conftest import REPO, ffprobe

REDIS_SERVER = "/usr/bin/redis-server"
SMALL = {"format": "mp4", "scale": 0.25}
# Long enough that a test can act while it renders, short enough to finish soon after.
LONG = {"timeline": lipsync_timeline(20_000), "options": {"format": "mp4", "scale": 0.5}}
LEASE_S = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Any, what: str, timeout: float = 60, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


class Cluster:
    """redis-server plus `streamer serve` and `streamer worker` processes on one data folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.exports = self.data / "exports"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self._spawn(
            "redis",
            [REDIS_SERVER, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        )
        self.redis = redis.Redis(port=self.redis_port, decode_responses=True)
        wait_until(self._redis_up, "redis-server", timeout=20)

    def _redis_up(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.ConnectionError:
            return False

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "REDIS_URL": self.redis_url,
            "STREAMER_DATA_DIR": str(self.data),
            "STREAMER_FRAMES_DIR": str(REPO / "frames"),
            "STREAMER_EXAMPLES_DIR": str(REPO / "examples"),
            "STREAMER_EXPORT_LEASE_S": str(LEASE_S),
            "STREAMER_EXPORT_MAX_QUEUED": "8",
            **extra,
        }

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}-{len(self.procs)}.log", "wb")  # noqa: SIM115 (kept for the process)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root)
        log.close()
        self.procs.append(proc)
        return proc

    def server(self) -> httpx.Client:
        """A `streamer serve` process; returns a client for it once it answers."""
        port = free_port()
        cmd = [sys.executable, "-m", "streamer", "serve", "--host", "127.0.0.1", "--port", str(port)]
        proc = self._spawn("server", cmd, self.env())
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        client.proc = proc  # type: ignore[attr-defined]

        def up() -> bool:
            assert proc.poll() is None, f"server exited with {proc.returncode}"
            try:
                return client.get("/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, "the server", timeout=60, every=0.2)
        return client

    def worker(self) -> subprocess.Popen[bytes]:
        """A `streamer worker` process, once it has said it is alive in Redis."""
        before = set(self.redis.keys("streamer:export-worker:*"))
        proc = self._spawn("worker", [sys.executable, "-m", "streamer", "worker"], self.env())

        def up() -> bool:
            assert proc.poll() is None, f"worker exited with {proc.returncode}"
            return bool(set(self.redis.keys("streamer:export-worker:*")) - before)

        wait_until(up, "the worker", timeout=60, every=0.2)
        return proc

    def job(self, job_id: str) -> dict[str, str]:
        """The job's hash in Redis (what no server shows: the attempt and the worker)."""
        return self.redis.hgetall(JOB_KEY + job_id)

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.exports.glob(f"*{TEMP_SUFFIX}"))

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.redis.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.fail(f"{REDIS_SERVER} is missing: apt-get install -y redis-server")
    running = Cluster(tmp_path)
    try:
        yield running
    finally:
        running.close()


def poll(client: httpx.Client, job_id: str, until: Any, what: str, timeout: float = 120) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        job = client.get(f"/exports/{job_id}").json()
        return job if until(job) else None

    return wait_until(check, what, timeout=timeout)


def encoding(job: dict[str, Any]) -> bool:
    return job["status"] == "running" and job["progress"]["stage"] == "encoding" and job["progress"]["frames"] > 0


def encoding_on(cluster: Cluster, job_id: str, attempt: str) -> Any:
    return lambda job: encoding(job) and cluster.job(job_id)["attempt"] == attempt


def test_an_export_submitted_to_one_server_renders_on_a_worker_and_downloads_from_another(cluster, tmp_path):
    a, b = cluster.server(), cluster.server()
    assert b.get("/health").json()["export_queue"] == {"queued": 0, "running": 0, "workers": 0}
    cluster.worker()
    assert b.get("/health").json()["export_queue"]["workers"] == 1
    res = a.post("/exports", json={"timeline_id": "hello", "options": SMALL})
    assert res.status_code == 202, res.text
    job_id = res.json()["id"]
    assert res.json()["status"] == "queued"

    async def watch() -> list[dict[str, Any]]:
        url = str(b.base_url).replace("http", "ws") + "/ws?channel=main&role=controller"
        pushed = []
        async with connect(url) as ws:
            await ws.send(json.dumps({"type": "watch_export", "id": 1, "export_id": job_id}))
            while not pushed or pushed[-1]["status"] not in ("done", "failed", "cancelled"):
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if msg["type"] == "export":
                    pushed.append(msg["export"])
        return pushed

    pushed = asyncio.run(watch())
    assert pushed[-1]["status"] == "done", pushed[-1]
    frames = [p["progress"]["frames"] for p in pushed]
    assert frames == sorted(frames) and frames[-1] == pushed[-1]["progress"]["total"] == 114
    done = b.get(f"/exports/{job_id}").json()
    assert done["status"] == "done" and done["file"] == f"/exports/{job_id}/file"
    file = b.get(done["file"])
    assert file.status_code == 200 and file.headers["content-type"] == "video/mp4"
    assert 'filename="hello.mp4"' in file.headers["content-disposition"]
    out = tmp_path / "dl.mp4"
    out.write_bytes(file.content)
    info = ffprobe(out, "-count_frames")
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}
    assert int(video["nb_read_frames"]) >= 1
    assert abs(float(info["format"]["duration"]) - 4.742) < 0.1
    assert a.get(f"/exports/{job_id}/file").content == file.content  # same file from either server
    assert cluster.job(job_id)["attempt"] == "1"
    assert a.delete(f"/exports/{job_id}").status_code == 204
    assert b.get(f"/exports/{job_id}").status_code == 404
    assert not (cluster.exports / f"{job_id}.mp4").exists()


def test_cancel_through_another_server_stops_the_worker_and_leaves_nothing(cluster):
    a, b = cluster.server(), cluster.server()
    cluster.worker()
    job_id = a.post("/exports", json=LONG).json()["id"]
    poll(b, job_id, encoding, "the render to start")
    wait_until(cluster.leftovers, "the render's temp file")
    res = b.delete(f"/exports/{job_id}")
    assert res.status_code == 200, res.text
    job = poll(a, job_id, lambda j: j["status"] != "running", "the cancel", timeout=30)
    assert job["status"] == "cancelled" and job["progress"]["frames"] < job["progress"]["total"]
    assert a.get(f"/exports/{job_id}/file").status_code == 409
    wait_until(lambda: not cluster.leftovers(), "the temp file to go", timeout=10)
    assert not list(cluster.exports.glob(f"{job_id}*"))
    assert b.get("/health").json()["export_queue"] == {"queued": 0, "running": 0, "workers": 1}


def test_a_queued_job_is_cancelled_at_once_and_no_worker_renders_it(cluster):
    a = cluster.server()
    job_id = a.post("/exports", json={"timeline_id": "hello", "options": SMALL}).json()["id"]
    assert a.get("/health").json()["export_queue"]["queued"] == 1
    assert a.delete(f"/exports/{job_id}").json()["status"] == "cancelled"
    cluster.worker()
    time.sleep(1)  # a worker would have picked it up by now
    assert a.get(f"/exports/{job_id}").json()["status"] == "cancelled"
    assert "attempt" not in cluster.job(job_id)


def test_a_job_survives_a_server_restart(cluster):
    a = cluster.server()
    cluster.worker()
    job_id = a.post("/exports", json=LONG).json()["id"]
    poll(a, job_id, encoding, "the render to start")
    a.proc.terminate()  # type: ignore[attr-defined]
    a.proc.wait(timeout=15)  # type: ignore[attr-defined]
    again = cluster.server()
    seen = again.get(f"/exports/{job_id}").json()
    assert seen["status"] in ("running", "done"), seen
    done = poll(again, job_id, lambda j: j["status"] != "running", "the render to end")
    assert done["status"] == "done", done
    assert again.get(done["file"]).status_code == 200


def test_a_worker_killed_mid_job_leaves_no_partial_file_and_the_job_is_retried_on_another(cluster, tmp_path):
    a = cluster.server()
    first = cluster.worker()
    job_id = a.post("/exports", json=LONG).json()["id"]
    poll(a, job_id, encoding, "the render to start")
    wait_until(cluster.leftovers, "the render's temp file")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not (cluster.exports / f"{job_id}.mp4").exists()
    cluster.worker()
    done = poll(a, job_id, lambda j: j["status"] in ("done", "failed"), "the retry to finish")
    assert done["status"] == "done", done
    assert cluster.job(job_id)["attempt"] == "2"
    assert cluster.leftovers() == []  # the dead attempt's temp file was swept
    out = tmp_path / "retried.mp4"
    out.write_bytes(a.get(done["file"]).content)
    info = ffprobe(out)
    assert abs(float(info["format"]["duration"]) - 20.0) < 0.6


def test_a_worker_stopped_mid_job_puts_it_back_for_another(cluster):
    a = cluster.server()
    first = cluster.worker()
    job_id = a.post("/exports", json=LONG).json()["id"]
    poll(a, job_id, encoding, "the render to start")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0
    assert a.get(f"/exports/{job_id}").json()["status"] == "queued"
    wait_until(lambda: not cluster.leftovers(), "the stopped render's temp file to go", timeout=10)
    cluster.worker()
    done = poll(a, job_id, lambda j: j["status"] in ("done", "failed"), "the job to finish on another worker")
    assert done["status"] == "done", done
    assert cluster.job(job_id)["attempt"] == "2"


def test_a_job_whose_worker_dies_twice_fails_with_the_reason(cluster):
    a = cluster.server()
    job_id = a.post("/exports", json=LONG).json()["id"]
    for attempt in ("1", "2"):
        worker = cluster.worker()
        # Until the lease runs out, the hash still shows the dead attempt: wait for this one.
        poll(a, job_id, encoding_on(cluster, job_id, attempt), f"attempt {attempt} to render")
        wait_until(cluster.leftovers, "the render's temp file")  # the dead attempt's went before this one began
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    cluster.worker()
    failed = poll(a, job_id, lambda j: j["status"] != "running", "the job to fail")
    assert failed["status"] == "failed", failed
    assert failed["error"].startswith("export failed: the worker rendering it stopped before the end, 2 times")
    assert cluster.leftovers() == []
    assert not (cluster.exports / f"{job_id}.mp4").exists()
    assert a.get("/health").json()["export_queue"]["running"] == 0


def test_worker_without_redis_says_what_is_missing(capsys, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: REDIS_URL is not set") and err.count("\n") == 1
