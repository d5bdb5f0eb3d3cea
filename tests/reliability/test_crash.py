"""kill -9 in the middle of uploads and timeline writes: nothing stored is lost, no leftovers after restart."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.workloads import lipsync_timeline
from tests.reliability.conftest import JSON, ServerProcess
from tests.server.conftest import wav_bytes

CHUNK = 256 * 1024


def _slow_body(total: int, stop: threading.Event) -> Iterator[bytes]:
    """A WAV-looking upload that trickles in, so it is mid-way when the server dies."""
    yield wav_bytes(100)[:44]
    sent = 44
    while sent < total and not stop.is_set():
        yield b"\x00\x01" * (CHUNK // 2)
        sent += CHUNK
        time.sleep(0.02)


def _leftovers(data_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.name.startswith((".upload-", ".tmp-")))


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(child) for child in f.read().split()]


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (an exited process nobody reaped yet is a zombie, "Z")."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _stored(http: httpx.Client, timeline_ids: list[str], audio_ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for timeline_id in timeline_ids:
        response = http.get(f"/timelines/{timeline_id}")
        assert response.status_code == 200, (timeline_id, response.text)
        out[f"timeline:{timeline_id}"] = response.json()
    for audio_id in audio_ids:
        response = http.get(f"/audio/{audio_id}")
        assert response.status_code == 200, (audio_id, response.text)
        out[f"audio:{audio_id}"] = response.content
    return out


def test_a_server_killed_mid_write_restarts_with_every_stored_file_intact_and_no_leftovers(
    rig_dir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, tmp_path / "server.log", rig_dir)
    server.start()
    stop = threading.Event()
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            timeline_ids = [f"kept-{i}" for i in range(4)]
            for i, timeline_id in enumerate(timeline_ids):
                r = http.put(f"/timelines/{timeline_id}", json=lipsync_timeline(5_000 + 1000 * i, seed=i), headers=JSON)
                assert r.status_code == 200, r.text
            audio_ids = []
            for ms in (300, 700, 1200):
                r = http.post("/audio", content=wav_bytes(ms), params={"filename": f"clip{ms}.wav"})
                assert r.status_code == 201, r.text
                audio_ids.append(r.json()["id"])
            before = _stored(http, timeline_ids, audio_ids)
            # Validation runs in the heavy-work process pool: it is started before the kill.
            r = http.post("/timelines/validate", json=lipsync_timeline(5_000, seed=1), headers=JSON)
            assert r.status_code == 200, r.text

        def upload() -> None:
            # The server dies under it.
            with httpx.Client(base_url=server.base_url, timeout=60) as c, contextlib.suppress(httpx.HTTPError):
                c.post("/audio", content=_slow_body(20 * 1024 * 1024, stop), params={"filename": "big.wav"})

        def rewrite() -> None:
            big = lipsync_timeline(600_000, seed=9)  # about 2 MB of JSON
            with httpx.Client(base_url=server.base_url, timeout=60) as c:
                for i in range(1000):
                    if stop.is_set():
                        return
                    try:
                        c.put(f"/timelines/churn-{i % 3}", json=big, headers=JSON)
                    except httpx.HTTPError:
                        return

        workers = [threading.Thread(target=upload) for _ in range(4)] + [
            threading.Thread(target=rewrite) for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        time.sleep(1.5)
        uploading = _leftovers(data_dir)
        pool = _children(server.proc.pid)
        assert pool, "no heavy-work process was started"
        server.kill()
        stop.set()
        for worker in workers:
            worker.join(30)
        assert any(".upload-" in name for name in uploading), f"no upload was in flight at the kill: {uploading}"
        # The pool's processes do not outlive the server killed under them.
        deadline = time.monotonic() + 10
        while (alive := [pid for pid in pool if _running(pid)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive, f"worker processes {alive} outlived the server"
        # A timeline write cut short leaves its temp file: put one there, as the crash may have.
        (data_dir / "timelines" / ".tmp-crashed.json").write_bytes(b'{"version": 1, "tracks": {')
        assert _leftovers(data_dir), "nothing for the start-up sweep to clean"

        server.start()
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            assert _stored(http, timeline_ids, audio_ids) == before
            assert _leftovers(data_dir) == []
            # Whatever the list shows loads: a write was either complete or never happened.
            for item in http.get("/timelines").json():
                assert http.get(f"/timelines/{item['id']}").status_code == 200, item
                assert item["duration_ms"] is not None, item
    finally:
        stop.set()
        server.stop()
