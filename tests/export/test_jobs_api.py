"""The export job API over real HTTP: create, progress, download with Range, cancel, limits, webhooks."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from benchmarks.workloads import lipsync_timeline
from streamer.export.render import TEMP_SUFFIX
from tests.export.conftest import ffprobe, wait_for

SMALL = {"format": "mp4", "scale": 0.25}


def _exports_dir(server: Any) -> Path:
    return Path(server.settings.data_dir) / "exports"


def test_export_a_stored_timeline_end_to_end(make_server, tmp_path):
    server = make_server()
    with server.client() as c:
        res = c.post("/exports", json={"timeline_id": "hello", "options": SMALL})
        assert res.status_code == 202, res.text
        job = res.json()
        assert res.headers["location"] == f"/exports/{job['id']}"
        assert job["status"] in ("queued", "running")
        seen = set()
        deadline = time.monotonic() + 30
        while job["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            job = c.get(f"/exports/{job['id']}").json()
            seen.add(job["progress"]["frames"])
            assert job["progress"]["frames"] <= job["progress"]["total"]
            time.sleep(0.01)
        assert job["status"] == "done", job
        # 4742 ms at 24 fps: hello's last change (to neutral at 4342, 400 ms) completes past its 4601
        assert job["progress"]["frames"] == job["progress"]["total"] == 114
        assert job["file"] == f"/exports/{job['id']}/file"
        file = c.get(job["file"])
        assert file.status_code == 200
        assert file.headers["content-type"] == "video/mp4"
        assert file.headers["content-disposition"].startswith("attachment")
        assert 'filename="hello.mp4"' in file.headers["content-disposition"]
        out = tmp_path / "dl.mp4"
        out.write_bytes(file.content)
        info = ffprobe(out)
        assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}
        part = c.get(job["file"], headers={"Range": "bytes=0-99"})
        assert part.status_code == 206
        assert part.content == file.content[:100]
        assert part.headers["content-range"] == f"bytes 0-99/{len(file.content)}"
        assert c.delete(f"/exports/{job['id']}").status_code == 204
        assert c.get(f"/exports/{job['id']}").status_code == 404
    assert list(_exports_dir(server).iterdir()) == []


def test_inline_timeline_and_bad_input_answers(make_server):
    server = make_server(export_max_s=30)
    timeline = lipsync_timeline(3000)
    with server.client() as c:
        ok = c.post("/exports", json={"timeline": timeline, "options": {"format": "webm", "scale": 0.25}})
        assert ok.status_code == 202, ok.text
        assert wait_for(c, ok.json()["id"], ("done", "failed"))["status"] == "done"
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"timeline_id": "hello", "options": {"format": "avi"}}, 422, "format"),
            ({"timeline_id": "hello", "options": {"fps": 5}}, 422, "fps"),
            ({"timeline_id": "hello", "options": {"size": "10x10"}}, 422, "size"),
            ({"timeline_id": "hello", "options": {"speed": 2}}, 422, "unknown"),
            ({"timeline_id": "nope"}, 404, "nope"),
            ({"timeline": {"version": 1, "tracks": {"emotion": [{"t_ms": 0, "expr": "furious"}]}}}, 422, "furious"),
            ({"timeline": lipsync_timeline(40_000)}, 422, "limit"),
            ({"timeline_id": "hello", "webhook_url": "http://evil.example/hook"}, 422, "webhook"),
            ({}, 422, "timeline"),
        ]
        for body, status, word in cases:
            res = c.post("/exports", json=body)
            assert res.status_code == status, (body, res.text)
            assert word in res.json()["error"], (body, res.json())


def test_missing_audio_is_404(make_server):
    server = make_server()
    with server.client() as c:
        (Path(server.settings.data_dir) / "audio" / "hello.ogg").unlink()
        res = c.post("/exports", json={"timeline_id": "hello", "options": SMALL})
        assert res.status_code == 404
        assert "hello.ogg" in res.json()["error"]
        res = c.post("/exports", json={"timeline_id": "hello", "options": {**SMALL, "audio": False}})
        assert res.status_code == 202


def test_limit_answers_429_and_cancel_stops_the_render_leaving_nothing(make_server):
    server = make_server(export_workers=1, export_max_queued=1)
    long = {"timeline": lipsync_timeline(60_000), "options": {"format": "mov", "quality": "high"}}
    with server.client() as c:
        first = c.post("/exports", json=long).json()
        second = c.post("/exports", json=long).json()
        third = c.post("/exports", json=long)
        assert third.status_code == 429, third.text
        assert "too many" in third.json()["error"]
        running = wait_for(c, first["id"], ("running",))
        deadline = time.monotonic() + 120  # a bound for a stuck render, not a speed check
        frames_seen = []
        while (progress := c.get(f"/exports/{first['id']}").json()["progress"])["frames"] < 30:
            assert time.monotonic() < deadline
            frames_seen.append(progress["frames"])
            time.sleep(0.02)
        assert frames_seen == sorted(frames_seen) and len(set(frames_seen)) >= 2  # progress advances
        assert progress["stage"] == "encoding" and progress["eta_s"] is not None
        res = c.delete(f"/exports/{first['id']}")
        assert res.status_code == 200
        # DELETE waits a bounded time for the render to stop: "cancelled" (not "running") says it did.
        assert res.json()["status"] == "cancelled", res.json()
        stopped_at = res.json()["progress"]["frames"]
        assert running["progress"]["total"] == 1440 and stopped_at < 1440
        cancelled_second = c.delete(f"/exports/{second['id']}").json()
        assert cancelled_second["status"] == "cancelled"
        assert c.get(f"/exports/{first['id']}/file").status_code == 409
        assert c.get(f"/exports/{first['id']}").json()["progress"]["frames"] == stopped_at  # no frame since
        # A slot is free again.
        again = c.post("/exports", json={"timeline_id": "hello", "options": SMALL})
        assert again.status_code == 202
        wait_for(c, again.json()["id"], ("done",))
    names = sorted(p.name for p in _exports_dir(server).iterdir())
    assert names == [f"{again.json()['id']}.mp4"]
    assert not any(n.endswith(TEMP_SUFFIX) for n in names)


def test_startup_sweeps_temp_files_and_orphans(make_server, tmp_path):
    exports = tmp_path / "data" / "exports"
    exports.mkdir(parents=True)
    (exports / f".abc.mp4.1234{TEMP_SUFFIX}").write_bytes(b"partial")
    (exports / "0123456789abcdef.webm").write_bytes(b"old")
    make_server()
    assert list(exports.iterdir()) == []


def test_webhook_reaches_an_allowed_host(make_server):
    got: list[dict[str, Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hook = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        server = make_server(export_webhook_hosts=("127.0.0.1",))
        url = f"http://127.0.0.1:{hook.server_address[1]}/done"
        with server.client() as c:
            job = c.post("/exports", json={"timeline_id": "hello", "options": SMALL, "webhook_url": url}).json()
            wait_for(c, job["id"], ("done",))
        deadline = time.monotonic() + 10
        while not got:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert got[0]["event"] == "export.done"
        assert got[0]["export"]["id"] == job["id"]
    finally:
        hook.shutdown()


def test_retention_forgets_finished_jobs_and_their_files(make_server):
    server = make_server()
    with server.client() as c:
        job = c.post("/exports", json={"timeline_id": "hello", "options": SMALL}).json()
        wait_for(c, job["id"], ("done",))
        jobs = server.app.state.server.exports.jobs
        assert jobs.reap(time.time() + server.settings.export_ttl_s + 1) == 1
        assert c.get(f"/exports/{job['id']}").status_code == 404
    assert list(_exports_dir(server).iterdir()) == []


def test_too_little_disk_space_answers_507(make_server, monkeypatch):
    import streamer.export.jobs as jobs_module

    server = make_server()
    monkeypatch.setattr(jobs_module, "MIN_FREE_BYTES", 1 << 62)  # more than any disk has free
    with server.client() as c:
        res = c.post("/exports", json={"timeline_id": "hello", "options": SMALL})
        assert res.status_code == 507
        assert "free" in res.json()["error"]
    assert list(_exports_dir(server).iterdir()) == []


def test_kill_9_of_the_worker_process_fails_the_job_and_leaves_no_file(make_server):
    import os
    import signal

    server = make_server()
    long = {"timeline": lipsync_timeline(60_000), "options": {"format": "mov", "quality": "high"}}
    with server.client() as c:
        job_id = c.post("/exports", json=long).json()["id"]
        deadline = time.monotonic() + 30
        while c.get(f"/exports/{job_id}").json()["progress"]["frames"] < 5:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        temps = list(_exports_dir(server).glob(f"*{TEMP_SUFFIX}"))
        assert len(temps) == 1  # the worker is writing its temp file
        pid = server.app.state.server.exports.jobs.get(job_id).worker_pid
        os.kill(pid, signal.SIGKILL)
        job = wait_for(c, job_id, ("failed",))
        assert "worker died" in job["error"]
        assert c.get(f"/exports/{job_id}/file").status_code == 409
    assert list(_exports_dir(server).iterdir()) == []


def test_controllers_that_ask_get_progress_pushed_over_the_socket(make_server):
    server = make_server()
    ws_url = server.base_url.replace("http://", "ws://") + "/ws?channel=main&role=controller"

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with connect(ws_url) as ws, connect(ws_url.replace("controller", "viewer")) as viewer:
            async with httpx.AsyncClient(base_url=server.base_url) as c:
                # Long enough (30 s) that even a fast machine is still rendering after several pushes.
                body = {"timeline": lipsync_timeline(30_000), "options": {"format": "webm", "scale": 0.5}}
                res = await c.post("/exports", json=body)
                job_id = res.json()["id"]
            await viewer.send(json.dumps({"type": "watch_export", "id": 1, "export_id": job_id}))
            await ws.send(json.dumps({"type": "watch_export", "id": 2, "export_id": "nope"}))
            await ws.send(json.dumps({"type": "watch_export", "id": 3, "export_id": job_id}))
            replies: list[dict[str, Any]] = []
            pushed: list[dict[str, Any]] = []
            while not pushed or pushed[-1]["status"] in ("queued", "running"):
                msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if msg["type"] == "export":
                    pushed.append(msg["export"])
                elif msg.get("id") in (2, 3):
                    replies.append(msg)
            while True:
                msg = json.loads(await asyncio.wait_for(viewer.recv(), 5))
                if msg.get("id") == 1:
                    replies.insert(0, msg)
                    break
        return replies, pushed

    replies, pushed = asyncio.run(scenario())
    forbidden, missing, ack = replies
    assert forbidden["type"] == "error" and forbidden["code"] == "forbidden"
    assert missing["type"] == "error" and missing["code"] == "not_found" and "nope" in missing["message"]
    assert ack["type"] == "ack" and ack["result"]["export"]["status"] in ("queued", "running")
    frames = [p["progress"]["frames"] for p in pushed]
    assert frames == sorted(frames) and len(set(frames)) >= 3  # progress advances, pushed as it goes
    assert pushed[-1]["status"] == "done" and pushed[-1]["file"].endswith("/file")
    assert pushed[-1]["progress"]["frames"] == pushed[-1]["progress"]["total"]


def test_an_export_does_not_evict_the_frames_live_viewers_are_sent(make_server):
    # Before, the export's frames went through the viewers' cache (1 MB here: about 40 of this rig's frames).
    server = make_server(cache_mb=1)
    cache = server.app.state.server.store
    with server.client() as c:
        live = [k for k in sorted(server.app.state.server.rig.file_sizes) if k.startswith("endpoints/")][:8]
        for key in live:
            assert c.get(f"/frames/{key}").status_code == 200
        held = cache.stats()
        assert all(key in cache for key in live)
        job = c.post("/exports", json={"timeline_id": "hello", "options": SMALL}).json()
        job = wait_for(c, job["id"], ("done", "failed"), timeout=120)
        assert job["status"] == "done", job
        assert job["progress"]["total"] == 114
        after = cache.stats()
        # The export read its frames through a budget of its own: the viewers' cache is as it was.
        assert all(key in cache for key in live)
        assert (after["bytes"], after["entries"], after["evictions"]) == (held["bytes"], held["entries"], 0)
        assert after["store_gets"] == held["store_gets"]
        # ... and a viewer asking again is answered from memory.
        assert c.get(f"/frames/{live[0]}").status_code == 200
        assert cache.stats()["hits"] == held["hits"] + 1
