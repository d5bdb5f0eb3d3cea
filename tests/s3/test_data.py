"""Stored data on S3 (``STREAMER_DATA_URL``): timelines, audio and finished exports in a moto bucket.

Real components only: moto's S3 server over HTTP, the app under uvicorn, ``streamer serve`` and
``streamer worker`` processes with a real redis-server, PyAV decoding what a presigned URL gives.
Each server gets its own data folder, so nothing passes through a shared folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
import redis

import tests.scale.conftest as scale_fixtures
from streamer.core.errors import NotFound
from streamer.export.queue import JOB_KEY
from streamer.rigload import load_rig
from streamer.s3 import S3Options
from streamer.server.app import create_app
from streamer.settings import Settings
from streamer.storage import AlreadyExists, StaleWrite
from streamer.storage.s3data import PreconditionFailed, S3Data
from streamer.storage.s3stores import S3AudioStore, S3TimelineStore
from tests.reliability.conftest import ServerProcess
from tests.s3.conftest import new_bucket, s3_run
from tests.server.conftest import REPO, LiveServer, ServerThread, serve, wav_bytes

HELLO = {
    "version": 1,
    "name": "Hello there",
    "start": {"expr": "neutral", "pose": "center"},
    "tracks": {"emotion": [{"t_ms": 0, "expr": "happy_soft", "transition_ms": 300}]},
    "duration_ms": 1200,
}
SMALL = {"format": "mp4", "scale": 0.25, "constant_rate": True}

redis_server = scale_fixtures.redis_server  # a redis-server of its own per test


def objects(moto_url: str, bucket: str) -> list[str]:
    async def go(client: Any) -> list[str]:
        found = await client.list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in found.get("Contents", []))

    return s3_run(moto_url, bucket, go)


@pytest.fixture
def bucket(moto_url: str) -> str:
    return new_bucket(moto_url)


@pytest.fixture
def data_server(moto_url: str, bucket: str, tmp_path: Path) -> Iterator[Callable[[str], LiveServer]]:
    """Start in-process servers on ``s3://bucket/data``, each with its own (empty) data folder."""
    running: list[ServerThread] = []
    rig = load_rig(REPO / "frames")

    def start(name: str) -> LiveServer:
        settings = Settings.from_env({}).replace(
            frames_dir=REPO / "frames",
            data_dir=tmp_path / name,
            examples_dir=REPO / "examples",
            client_dir=REPO / "client",
            data_url=f"s3://{bucket}/data",
            s3_endpoint_url=moto_url,
        )
        return serve(create_app(settings, rig=rig), running)

    yield start
    for thread in running:
        thread.stop()


def poll_done(client: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/exports/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, f"export {job_id} still {job['status']}"
        time.sleep(0.2)


def decode(url: str, tmp: Path) -> tuple[int, int, float]:
    """Fetch ``url`` (a presigned S3 URL) and decode it: video frames, audio streams, duration in s."""
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text[:300]
    path = tmp / "fetched.mp4"
    path.write_bytes(response.content)
    with av.open(str(path)) as container:
        audio_streams = len(container.streams.audio)
        frames = sum(1 for _ in container.decode(video=0))
        duration = float(container.duration or 0) / 1_000_000
    return frames, audio_streams, duration


def test_timelines_round_trip_on_s3_and_a_stale_write_is_412(data_server, moto_url, bucket, tmp_path):
    a = data_server("a")
    with a.client() as c:
        res = c.post("/timelines", json=HELLO)
        assert res.status_code == 201, res.text
        timeline_id = res.json()["id"]
        got = c.get(f"/timelines/{timeline_id}")
        assert got.json() == HELLO
        version = got.headers["etag"]
        changed = dict(HELLO, duration_ms=1500)
        ok = c.put(f"/timelines/{timeline_id}", json=changed, headers={"If-Match": version})
        assert ok.status_code == 200, ok.text
        stale = c.put(f"/timelines/{timeline_id}", json=dict(HELLO, duration_ms=900), headers={"If-Match": version})
        assert stale.status_code == 412, stale.text
        assert "changed since it was read" in stale.json()["error"]
        assert c.get(f"/timelines/{timeline_id}").json() == changed  # the refused write changed nothing
        listed = {t["id"]: t for t in c.get("/timelines").json()}
        assert listed[timeline_id]["name"] == "Hello there" and listed[timeline_id]["duration_ms"] == 1500
        assert "hello" in listed  # the examples were seeded into the bucket
        stored = objects(moto_url, bucket)
        assert f"data/timelines/{timeline_id}.json" in stored and f"data/timelines/{timeline_id}.meta.json" in stored
        assert not (tmp_path / "a" / "timelines").exists()  # nothing in the data folder
        assert c.delete(f"/timelines/{timeline_id}").status_code == 204
        assert c.get(f"/timelines/{timeline_id}").status_code == 404
    assert f"data/timelines/{timeline_id}.json" not in objects(moto_url, bucket)


def test_two_stores_on_one_bucket_refuse_each_others_stale_writes(moto_url, bucket):
    """Two processes' stores: S3's conditional PUT, not a local lock, decides who wins."""
    data_a = S3Data(S3Options(bucket=bucket, prefix="shared", endpoint_url=moto_url)).open()
    data_b = S3Data(S3Options(bucket=bucket, prefix="shared", endpoint_url=moto_url)).open()
    try:
        a, b = S3TimelineStore(data_a), S3TimelineStore(data_b)
        a.create(HELLO, "greeting")
        with pytest.raises(AlreadyExists):
            b.create(HELLO, "greeting")
        version = a.put("greeting", HELLO)[2]
        b.put("greeting", dict(HELLO, duration_ms=2000), if_match=version)
        with pytest.raises(StaleWrite):
            a.put("greeting", dict(HELLO, duration_ms=3000), if_match=version)
        assert b.load("greeting").duration_ms == a.load("greeting").duration_ms == 2000
        # The guard under it: a PUT conditional on an ETag someone replaced meanwhile fails.
        _, etag = data_a.get("timelines/greeting.json")
        data_b.put("timelines/greeting.json", b"{}")
        with pytest.raises(PreconditionFailed):
            data_a.put("timelines/greeting.json", b"[]", if_match=etag)
        a.delete("greeting")
        with pytest.raises(NotFound):
            b.read_bytes("greeting")
    finally:
        data_a.close()
        data_b.close()


def test_audio_uploaded_to_one_server_plays_from_another(data_server, moto_url, bucket, tmp_path):
    a, b = data_server("a"), data_server("b")
    wav = wav_bytes(700)
    with a.client() as ca, b.client() as cb:
        res = ca.post("/audio", content=wav, headers={"Content-Type": "audio/wav"})
        assert res.status_code == 201, res.text
        audio_id = res.json()["id"]
        assert f"data/audio/{audio_id}" in objects(moto_url, bucket)
        assert not (tmp_path / "b" / "audio" / audio_id).exists()
        played = cb.get(f"/audio/{audio_id}")  # the playback URL viewers get on a channel
        assert played.status_code == 200 and played.content == wav
        assert played.headers["content-type"].startswith("audio/wav")
        timeline = dict(HELLO, audio={"id": audio_id, "offset_ms": 0})
        assert cb.post("/timelines", json=timeline).status_code == 201
        play = cb.post("/channels/main/play", json={"timeline": timeline})
        assert play.status_code == 200, play.text
        assert cb.get("/audio/nope.wav").status_code == 404


def test_the_local_audio_cache_keeps_to_its_size_and_fetches_again_what_it_removed(moto_url, bucket, tmp_path):
    data = S3Data(S3Options(bucket=bucket, prefix="cached", endpoint_url=moto_url)).open()
    try:
        clips = {f"clip{i}.wav": wav_bytes(700, freq=300.0 + 100 * i) for i in range(3)}
        size = max(len(clip) for clip in clips.values())
        store = S3AudioStore(data, tmp_path / "audio", cache_bytes=2 * size + size // 2)  # room for two

        def cached() -> list[str]:
            return sorted(path.name for path in (tmp_path / "audio").iterdir())

        hours_ago = time.time() - 7200
        for i, (audio_id, clip) in enumerate(clips.items()):
            src = tmp_path / audio_id
            src.write_bytes(clip)
            store.register_file(src, audio_id)
            os.utime(tmp_path / "audio" / audio_id, (hours_ago + i, hours_ago + i))  # used long ago, in order
        # The third copy pushed out the one used longest ago; the bucket still has all three.
        assert cached() == ["clip1.wav", "clip2.wav"]
        assert [k for k in objects(moto_url, bucket) if k.startswith("cached/")] == [
            f"cached/audio/{audio_id}" for audio_id in clips
        ]
        # Used again: fetched from the bucket, and the oldest of the others goes.
        assert store.path("clip0.wav").read_bytes() == clips["clip0.wav"]
        assert store.info("clip0.wav").duration_ms == 700
        assert cached() == ["clip0.wav", "clip2.wav"]
        # A copy used in the last minute stays, whatever the size: a reader may be about to open it.
        assert store.info("clip2.wav").duration_ms == 700  # used now (its info is what a play reads)
        small = S3AudioStore(data, tmp_path / "audio", cache_bytes=1)
        assert small.path("clip1.wav").read_bytes() == clips["clip1.wav"]
        assert cached() == ["clip0.wav", "clip1.wav", "clip2.wav"]
    finally:
        data.close()


def test_a_recording_is_stored_in_the_bucket_and_read_through_another_server(data_server, moto_url, bucket):
    a, b = data_server("a"), data_server("b")
    with a.client() as ca, b.client() as cb:
        audio_id = ca.post("/audio", content=wav_bytes(1500), headers={"Content-Type": "audio/wav"}).json()["id"]
        assert ca.post("/channels/rec/record", json={"action": "start"}).status_code == 200
        timeline = dict(HELLO, audio={"id": audio_id, "offset_ms": 0})
        assert ca.post("/channels/rec/play", json={"timeline": timeline}).status_code == 200
        time.sleep(1.0)
        stopped = ca.post("/channels/rec/record", json={"action": "stop", "timeline_id": "take-1"})
        assert stopped.status_code == 200, stopped.text
        mixed = stopped.json()["audio_id"]
        assert mixed is not None and mixed != audio_id  # what aired, mixed into one file
        stored = objects(moto_url, bucket)
        assert "data/timelines/take-1.json" in stored and f"data/audio/{mixed}" in stored
        recorded = cb.get("/timelines/take-1").json()
        assert recorded["audio"]["id"] == mixed and recorded["duration_ms"] >= 900
        assert cb.get(f"/audio/{mixed}").status_code == 200


def test_a_said_line_exports_to_s3_and_downloads_through_a_presigned_url(data_server, moto_url, bucket, tmp_path):
    a = data_server("a")
    with a.client(timeout=60) as c:
        said = c.post("/speech", json={"text": "Hello there, friend."})
        assert said.status_code == 201, said.text
        res = c.post("/exports", json={"timeline_id": said.json()["timeline_id"], "options": SMALL})
        assert res.status_code == 202, res.text
        job = poll_done(c, res.json()["id"])
        assert job["status"] == "done", job
        assert job["url"].startswith(moto_url) and "X-Amz-Signature" in job["url"]
        assert job["url_expires_s"] == 3600
        redirect = c.get(job["file"])
        assert redirect.status_code == 307 and redirect.headers["location"].startswith(moto_url)
        inline = httpx.URL(c.get(job["file"] + "?inline=1").headers["location"])  # S3 answers with this header
        assert inline.params["response-content-disposition"] == f'inline; filename="{job["filename"]}"'
        assert f"data/exports/{job['id']}.mp4" in objects(moto_url, bucket)
        assert not list((tmp_path / "a" / "exports").glob("*.mp4"))  # the local copy is gone
        frames, audio_streams, duration = decode(redirect.headers["location"], tmp_path)
        total = job["progress"]["total"]  # output frames at the default 24 fps
        assert audio_streams == 1 and abs(duration - total / 24) < 0.1
        assert frames == total
        assert c.delete(f"/exports/{job['id']}").status_code == 204
    assert f"data/exports/{job['id']}.mp4" not in objects(moto_url, bucket)


def test_a_missing_data_bucket_stops_serve_with_one_error_line(moto_url, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "STREAMER_DATA_URL": "s3://no-such-bucket-here/data",
        "S3_ENDPOINT_URL": moto_url,
        "STREAMER_DATA_DIR": str(tmp_path / "data"),
        "STREAMER_FRAMES_DIR": str(REPO / "frames"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "streamer", "serve", "--port", "0"], env=env, capture_output=True, timeout=60
    )
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.decode().splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: s3: bucket 'no-such-bucket-here' does not exist (s3://no-such-bucket-here at {moto_url}); "
        "check STREAMER_DATA_URL"
    ]
    assert "Traceback" not in proc.stderr.decode()


def start_worker(env: dict[str, str], redis_url: str, log_path: Path) -> subprocess.Popen[bytes]:
    """A `streamer worker` process, once it has said it is alive in Redis."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamer", "worker"], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    try:
        while not client.keys("streamer:export-worker:*"):
            assert proc.poll() is None, f"worker exited: {log_path.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.2)
    finally:
        client.close()
    return proc


def test_two_servers_and_a_worker_share_one_bucket_and_no_folder(moto_url, bucket, redis_server, tmp_path):
    """A timeline saved through one server is read and exported through the other; a worker renders it."""
    shared = {
        "REDIS_URL": redis_server.url,
        "STREAMER_DATA_URL": f"s3://{bucket}/shared",
        "S3_ENDPOINT_URL": moto_url,
    }
    a = ServerProcess(tmp_path / "data-a", tmp_path / "a.log", REPO / "frames", **shared)
    b = ServerProcess(tmp_path / "data-b", tmp_path / "b.log", REPO / "frames", **shared)
    worker_env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "STREAMER_DATA_DIR": str(tmp_path / "data-w"),
        "STREAMER_FRAMES_DIR": str(REPO / "frames"),
        **shared,
    }
    worker = None
    try:
        a.start()
        b.start()
        stray = "shared/exports/0123456789abcdef.mp4"  # the file of a job whose hash expired
        s3_run(moto_url, bucket, lambda client: client.put_object(Bucket=bucket, Key=stray, Body=b"old"))
        worker = start_worker(worker_env, redis_server.url, tmp_path / "worker.log")
        assert stray not in objects(moto_url, bucket)  # the starting worker's sweep removed it
        with a.client() as ca, b.client() as cb:
            audio_id = ca.post("/audio", content=wav_bytes(1000), headers={"Content-Type": "audio/wav"}).json()["id"]
            timeline = dict(HELLO, audio={"id": audio_id, "offset_ms": 0})
            saved = ca.put("/timelines/shared-one", json=timeline)
            assert saved.status_code == 200 and saved.json()["created"], saved.text
            got = cb.get("/timelines/shared-one")
            assert got.json() == timeline and got.headers["etag"] == saved.headers["etag"]
            stale = cb.put("/timelines/shared-one", json=timeline, headers={"If-Match": '"0000"'})
            assert stale.status_code == 412
            res = cb.post("/exports", json={"timeline_id": "shared-one", "options": SMALL})
            assert res.status_code == 202, res.text
            job = poll_done(ca, res.json()["id"])
            assert job["status"] == "done", job
            assert redis.Redis.from_url(redis_server.url).hget(JOB_KEY + job["id"], "worker") is not None
            frames, audio_streams, duration = decode(cb.get(job["file"]).headers["location"], tmp_path)
            assert (frames, audio_streams) == (job["progress"]["total"], 1)
            assert abs(duration - job["progress"]["total"] / 24) < 0.1
        assert (tmp_path / "data-w" / "audio" / audio_id).is_file()  # the worker fetched it from the bucket
        for folder in ("data-a", "data-b", "data-w"):
            assert not list((tmp_path / folder).glob("timelines/*.json"))
            assert not list((tmp_path / folder).glob("exports/*.mp4"))
        assert f"shared/exports/{job['id']}.mp4" in objects(moto_url, bucket)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(15)
        a.stop()
        b.stop()
