"""A rig through `streamer upload` into moto, then played from S3 in every URL mode."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from streamer.cli import main as cli_main
from streamer.s3 import S3Options, S3SetupError, list_objects
from streamer.server.framesource import FrameSource
from streamer.settings import Settings
from tests.s3.conftest import FaultProxy, new_bucket, s3_run
from tests.server.conftest import REPO, LiveServer

MakeS3Server = Callable[..., LiveServer]


async def first_frames(server: LiveServer) -> tuple[dict[str, Any], list[str]]:
    """The hello message and the frame URLs of the first frames message a viewer gets."""
    async with connect(f"ws://127.0.0.1:{server.port}/ws?channel=main") as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == "frames":
                return hello, [url for _, url in message["frames"]]


def objects(moto_url: str, bucket: str, prefix: str = "") -> dict[str, tuple[int, str]]:
    return s3_run(moto_url, bucket, lambda c: list_objects(c, S3Options(bucket=bucket, prefix=prefix)))


def test_upload_then_serve_plays_the_rig_from_s3(
    s3_server: MakeS3Server, moto_url: str, filled_bucket: str, small_rig: Path
) -> None:
    server = s3_server(s3_bucket=filled_bucket, s3_endpoint_url=moto_url)
    with server.client() as c:
        assert c.get("/rig").json()["name"] == "test-rig"
        key = "endpoints/happy_soft__center.png"
        r = c.get("/frames/" + key)
        assert r.status_code == 200
        assert r.content == (small_rig / key).read_bytes()
        assert r.headers["content-type"] == "image/png"
        missing = c.get("/frames/endpoints/nobody__center.png")
        assert missing.status_code == 404
        assert "endpoints/nobody__center.png" in missing.json()["error"]
        hello, urls = asyncio.run(first_frames(server))
        assert hello["frame_base_url"] == "/frames/"
        for url in urls:
            got = c.get(url)
            assert got.status_code == 200
            assert got.content == (small_rig / url.removeprefix("/frames/")).read_bytes()
        assert c.get("/health").json()["frames"]["store_gets"] >= 1


def test_invalid_keys_never_reach_s3(s3_server: MakeS3Server, proxy: FaultProxy, filled_bucket: str) -> None:
    server = s3_server(s3_bucket=filled_bucket, s3_endpoint_url=proxy.url)
    for target in ("/frames/endpoints/..%2f..%2fsecret.png", "/frames/endpoints/a%5Cb.png", "/frames/x/.hidden.png"):
        status, _, _ = server.get_raw(target)
        assert status in (400, 404)
    # The idle channel's prefetch may GET real frames meanwhile; none of these keys went out.
    paths = [path for _, path in proxy.requests]
    assert paths and not [p for p in paths if "secret" in p or "hidden" in p or "%5C" in p.upper() or "\\" in p]


def test_dry_run_touches_nothing_and_a_second_upload_skips_everything(
    moto_url: str, small_rig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = new_bucket(moto_url)
    args = ["upload", str(small_rig), "--bucket", bucket, "--endpoint-url", moto_url, "--prefix", "rigs/pip", "-q"]
    assert cli_main([*args, "--dry-run"]) == 0
    assert objects(moto_url, bucket) == {}
    assert "would upload 378 files" in capsys.readouterr().out
    assert cli_main(args) == 0
    assert "uploaded 378 files" in capsys.readouterr().out
    stored = objects(moto_url, bucket)
    assert "rigs/pip/rig.json" in stored and "rigs/pip/endpoints/neutral__center.png" in stored
    assert cli_main(args) == 0
    assert "uploaded 0 files (0.0 MB)" in capsys.readouterr().out
    assert objects(moto_url, bucket) == stored

    async def head(c: Any) -> Any:
        return await c.head_object(Bucket=bucket, Key="rigs/pip/endpoints/neutral__center.png")

    meta = s3_run(moto_url, bucket, head)
    assert meta["ContentType"] == "image/png"
    assert meta["CacheControl"] == "public, max-age=31536000, immutable"


def test_a_dry_run_draws_no_upload_bar(moto_url: str, small_rig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bucket = new_bucket(moto_url)
    assert cli_main(["upload", str(small_rig), "--bucket", bucket, "--endpoint-url", moto_url, "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "would upload" in out
    assert "upload to" not in err and "%|" not in err  # nothing is transferred, so no transfer bar


def test_upload_refuses_a_broken_rig(
    moto_url: str, small_rig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(small_rig, broken)
    (broken / "endpoints/happy_soft__center.png").unlink()
    bucket = new_bucket(moto_url)
    assert cli_main(["upload", str(broken), "--bucket", bucket, "--endpoint-url", moto_url, "-q"]) == 1
    assert "happy_soft__center" in capsys.readouterr().err
    assert objects(moto_url, bucket) == {}


def test_serve_with_a_missing_bucket_fails_fast_with_one_line(moto_url: str, tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "USE_S3": "true",
        "S3_BUCKET": "no-such-bucket-here",
        "S3_ENDPOINT_URL": moto_url,
        "STREAMER_DATA_DIR": str(tmp_path / "data"),
        "STREAMER_PORT": "0",
        "STREAMER_TOKEN": "secret-for-the-test",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streamer", "serve"], env=env, cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: s3: bucket 'no-such-bucket-here' does not exist (s3://no-such-bucket-here at {moto_url}); "
        "check S3_BUCKET"
    ]
    assert time.monotonic() - started < 15


def test_presigned_urls_are_signed_once_and_fetch_with_plain_httpx(
    s3_server: MakeS3Server, moto_url: str, filled_bucket: str, small_rig: Path
) -> None:
    server = s3_server(s3_bucket=filled_bucket, s3_endpoint_url=moto_url, url_mode="presigned")
    hello, urls = asyncio.run(first_frames(server))
    assert hello["frame_base_url"] is None
    presigner = server.app.state.server.rigs["default"].frame_url.__self__
    signed = presigner.signatures
    assert signed == len(server.app.state.server.rig.file_sizes)  # every key, once, at start
    for url in urls:
        assert "X-Amz-Signature=" in url and url.startswith(moto_url)
        r = httpx.get(url, timeout=10)
        assert r.status_code == 200
        key = url.split(f"/{filled_bucket}/frames/", 1)[1].split("?", 1)[0]
        assert r.content == (small_rig / key).read_bytes()
    _, again = asyncio.run(first_frames(server))
    assert presigner.signatures == signed  # reused, not signed again
    assert set(again) <= {presigner.url(k) for k in server.app.state.server.rig.file_sizes}


def test_public_cdn_urls_fetch_with_plain_httpx(
    s3_server: MakeS3Server, moto_url: str, filled_bucket: str, small_rig: Path
) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicReadFrames",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{filled_bucket}/frames/*",
            }
        ],
    }
    s3_run(moto_url, filled_bucket, lambda c: c.put_bucket_policy(Bucket=filled_bucket, Policy=json.dumps(policy)))
    base = f"{moto_url}/{filled_bucket}"  # path-style, as a CDN origin would be
    server = s3_server(s3_bucket=filled_bucket, s3_endpoint_url=moto_url, url_mode="public", s3_base_url=base)
    hello, urls = asyncio.run(first_frames(server))
    assert hello["frame_base_url"] == base + "/frames/"
    for url in urls:
        assert url.startswith(base + "/frames/")
        r = httpx.get(url, timeout=10)  # anonymous: no signature at all
        assert r.status_code == 200
        assert r.content == (small_rig / url.removeprefix(base + "/frames/")).read_bytes()


def test_missing_credentials_fail_fast_with_one_line(
    moto_url: str, filled_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    settings = Settings.from_env({}).replace(
        data_dir=tmp_path, use_s3=True, s3_bucket=filled_bucket, s3_endpoint_url=moto_url
    )
    with pytest.raises(S3SetupError) as caught:
        asyncio.run(FrameSource(settings).open())
    assert str(caught.value) == "s3: no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"


def test_export_reads_the_rig_and_its_frames_from_s3_with_use_s3(
    moto_url: str, filled_bucket: str, small_rig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import av
    import numpy as np
    from PIL import Image

    # The local frames folder is empty: everything must come from the bucket, as `serve` reads it.
    monkeypatch.setenv("STREAMER_FRAMES_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("USE_S3", "true")
    monkeypatch.setenv("S3_BUCKET", filled_bucket)
    monkeypatch.setenv("S3_ENDPOINT_URL", moto_url)
    timeline = tmp_path / "still.json"
    timeline.write_text(json.dumps({"version": 1, "tracks": {}, "duration_ms": 500}))
    out = tmp_path / "still.mov"
    assert cli_main(["export", str(timeline), "-o", str(out), "--fps", "12", "-q"]) == 0
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgba") for f in container.decode(video=0)]
    assert len(frames) == 6  # 500 ms at 12 fps
    source = np.asarray(Image.open(small_rig / "endpoints" / "neutral__center.png").convert("RGBA"))
    assert frames[0].shape == source.shape
    assert np.abs(frames[0].astype(int) - source.astype(int)).max() <= 3  # ProRes 4444 is near lossless
