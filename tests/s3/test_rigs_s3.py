"""Several rigs on S3 (STREAMER_RIGS_DIR=s3://BUCKET/PREFIX/): found by prefix, played in every URL mode."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from streamer.cli import main as cli_main
from streamer.settings import ConfigError, Settings
from tests.s3.conftest import new_bucket, s3_run
from tests.server.conftest import LiveServer, write_png_rig

MakeS3Server = Callable[..., LiveServer]
TINY = (20, 30)


@pytest.fixture(scope="module")
def tiny_rig(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_png_rig(tmp_path_factory.mktemp("tiny") / "tiny", TINY)


@pytest.fixture(scope="module")
def rigs_bucket(moto_url: str, small_rig: Path, tiny_rig: Path) -> str:
    """The default rig under frames/, ``tiny`` under rigs/tiny/, and a broken rig under rigs/broken/."""
    bucket = new_bucket(moto_url)
    for rig, prefix in ((small_rig, "frames/"), (tiny_rig, "rigs/tiny/")):
        code = cli_main(["upload", str(rig), "--bucket", bucket, "--prefix", prefix, "--endpoint-url", moto_url, "-q"])
        assert code == 0
    s3_run(moto_url, bucket, lambda c: c.put_object(Bucket=bucket, Key="rigs/broken/rig.json", Body=b"{}"))
    return bucket


async def switch_and_watch(server: LiveServer, rig: str) -> tuple[dict[str, Any], list[str]]:
    """Switch channel ``main`` to ``rig`` as a controller: the ``rig`` message and the new frames' URLs."""
    async with connect(f"ws://127.0.0.1:{server.port}/ws?channel=main&role=controller") as ws:
        await ws.send(json.dumps({"type": "set", "id": 1, "rig": rig}))
        switched = None
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert message["type"] != "error", message
            if message["type"] == "rig":
                switched = message
            elif message["type"] == "frames" and switched is not None:
                return switched, [url for _, url in message["frames"]]


def test_rigs_below_a_prefix_are_offered_and_served_through_the_cache(
    s3_server: MakeS3Server, moto_url: str, rigs_bucket: str, tiny_rig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = s3_server(s3_bucket=rigs_bucket, s3_endpoint_url=moto_url, rigs_dir=f"s3://{rigs_bucket}/rigs/")
    with server.client() as c:
        rigs = c.get("/rigs").json()["rigs"]
        assert [(r["id"], r["size"]) for r in rigs] == [("default", [16, 24]), ("tiny", list(TINY))]
        assert server.app.state.server.rigs["tiny"].location == f"s3://{rigs_bucket}/rigs/tiny/"
        key = "endpoints/happy_soft__center.png"
        assert c.get(f"/frames/rigs/tiny/{key}").content == (tiny_rig / key).read_bytes()
        assert c.get(f"/frames/{key}").content != (tiny_rig / key).read_bytes()
        assert c.get(f"/frames/rigs/broken/{key}").status_code == 404
    assert any("rigs/broken/" in r.getMessage() and "not a valid rig" in r.getMessage() for r in caplog.records)
    switched, urls = asyncio.run(switch_and_watch(server, "tiny"))
    assert switched["frame_base_url"] == "/frames/rigs/tiny/" and switched["frame_size"] == list(TINY)
    assert urls and all(u.startswith("/frames/rigs/tiny/") for u in urls)


@pytest.mark.parametrize("mode", ["presigned", "public"])
def test_viewers_fetch_a_switched_rig_straight_from_the_bucket(
    s3_server: MakeS3Server, moto_url: str, rigs_bucket: str, tiny_rig: Path, mode: str
) -> None:
    base = f"{moto_url}/{rigs_bucket}"  # path-style, as a CDN origin would be
    if mode == "public":
        statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}
        resources = [f"arn:aws:s3:::{rigs_bucket}/frames/*", f"arn:aws:s3:::{rigs_bucket}/rigs/*"]
        policy = {"Version": "2012-10-17", "Statement": [{**statement, "Resource": resources}]}
        s3_run(moto_url, rigs_bucket, lambda c: c.put_bucket_policy(Bucket=rigs_bucket, Policy=json.dumps(policy)))
    server = s3_server(
        s3_bucket=rigs_bucket,
        s3_endpoint_url=moto_url,
        rigs_dir=f"s3://{rigs_bucket}/rigs/",
        url_mode=mode,
        s3_base_url=base if mode == "public" else None,
    )
    switched, urls = asyncio.run(switch_and_watch(server, "tiny"))
    assert switched["frame_base_url"] == (base + "/rigs/tiny/" if mode == "public" else None)
    assert urls
    for url in urls:
        assert url.startswith(base + "/rigs/tiny/"), url
        r = httpx.get(url, timeout=10)
        assert r.status_code == 200
        key = url.removeprefix(base + "/rigs/tiny/").split("?", 1)[0]
        assert r.content == (tiny_rig / key).read_bytes()


def test_rigs_on_s3_need_use_s3_and_the_same_bucket() -> None:
    with pytest.raises(ConfigError, match="needs USE_S3=true"):
        Settings.from_env({"STREAMER_RIGS_DIR": "s3://b/rigs/"})
    with pytest.raises(ConfigError, match="must be in S3_BUCKET 'a', got 'b'"):
        Settings.from_env({"USE_S3": "true", "S3_BUCKET": "a", "STREAMER_RIGS_DIR": "s3://b/rigs/"})
    settings = Settings.from_env({"USE_S3": "true", "S3_BUCKET": "a", "STREAMER_RIGS_DIR": "s3://a/rigs"})
    assert settings.rigs_s3 == ("a", "rigs/") and settings.rigs_folder is None
    local = Settings.from_env({"STREAMER_RIGS_DIR": "my/rigs"})
    assert local.rigs_folder == Path("my/rigs") and local.rigs_s3 is None
    with pytest.raises(ConfigError, match="names no bucket"):
        Settings.from_env({"USE_S3": "true", "S3_BUCKET": "a", "STREAMER_RIGS_DIR": "s3:///rigs"})
