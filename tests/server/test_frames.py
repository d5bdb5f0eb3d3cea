"""Serving frames: bytes, caching headers, conditional requests, and no way out of the rig."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamer.core.rig import Rig
from tests.server.conftest import REPO, LiveServer, MakeServer, write_png_rig


@pytest.fixture
def client(shared_server: LiveServer) -> Iterator[httpx.Client]:
    """Frames are read-only: one server for the module is enough."""
    with shared_server.client() as c:
        yield c


@pytest.fixture
def key(rig: Rig) -> str:
    return rig.endpoints[next(iter(rig.endpoints))]


def test_frame_bytes_with_strong_etag_and_immutable_cache(client: httpx.Client, rig_dir: Path, key: str) -> None:
    r = client.get(f"/frames/{key}")
    assert r.status_code == 200
    assert r.content == (rig_dir / key).read_bytes()
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = r.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert client.get(f"/frames/{key}").headers["etag"] == etag


def test_matching_if_none_match_is_304_without_body(client: httpx.Client, key: str) -> None:
    etag = client.get(f"/frames/{key}").headers["etag"]
    r = client.get(f"/frames/{key}", headers={"If-None-Match": f'"other", {etag}'})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == etag
    assert client.get(f"/frames/{key}", headers={"If-None-Match": '"stale"'}).status_code == 200


def test_different_frames_have_different_etags(client: httpx.Client, rig: Rig) -> None:
    keys = sorted(rig.file_sizes)[:2]
    tags = {client.get(f"/frames/{k}").headers["etag"] for k in keys}
    hashes = {hashlib.sha256(client.get(f"/frames/{k}").content).hexdigest() for k in keys}
    assert len(tags) == len(hashes)


def test_missing_frame_is_404_naming_the_key(client: httpx.Client) -> None:
    r = client.get("/frames/endpoints/nobody__nowhere.png")
    assert r.status_code == 404
    assert "endpoints/nobody__nowhere.png" in r.json()["error"]


def test_only_png_frames_are_served(client: httpx.Client) -> None:
    r = client.get("/frames/rig.json")
    assert r.status_code == 404
    assert "rig.json" in r.json()["error"]


SECRET = (REPO / "pyproject.toml").read_bytes()[:40]


@pytest.mark.parametrize(
    "target",
    [
        "/frames/../pyproject.toml",
        "/frames/%2e%2e/pyproject.toml",
        "/frames/%2E%2E/%2E%2E/pyproject.toml",
        "/frames/endpoints/..%2F..%2Fpyproject.toml",
        "/frames/endpoints/%2e%2e/%2e%2e/pyproject.toml",
        "/frames/endpoints%5C..%5C..%5Cpyproject.toml",
        "/frames/%2Fetc%2Fpasswd",
        "/frames//etc/passwd",
        "/frames/./endpoints/x.png",
        "/frames/endpoints/%00.png",
    ],
)
def test_traversal_attempts_are_rejected_and_never_leak(shared_server: LiveServer, target: str) -> None:
    status, _, body = shared_server.get_raw(target)
    assert status in (400, 404), (target, status)
    assert SECRET not in body
    assert b"root:" not in body


def test_bad_key_is_400_naming_the_problem(shared_server: LiveServer) -> None:
    status, headers, body = shared_server.get_raw("/frames/endpoints/..%2F..%2Fpyproject.toml")
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert b"'..'" in body


def test_symlinks_out_of_the_rig_are_not_followed(make_server: MakeServer, tmp_path: Path) -> None:
    rig_dir = write_png_rig(tmp_path / "rig")
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\nTOP SECRET")
    server = make_server(frames_dir=rig_dir)
    # Planted after the rig was loaded (loading refuses such links).
    (rig_dir / "endpoints" / "leak.png").symlink_to(secret)
    (rig_dir / "sequences" / "escape").symlink_to(outside, target_is_directory=True)
    with server.client() as c:
        for url in ("/frames/endpoints/leak.png", "/frames/sequences/escape/secret.png"):
            r = c.get(url)
            assert r.status_code == 404, url
            assert b"TOP SECRET" not in r.content
        assert c.get("/frames/endpoints/neutral__center.png").status_code == 200


def test_symlinks_inside_the_rig_are_fine(make_server: MakeServer, tmp_path: Path) -> None:
    rig_dir = write_png_rig(tmp_path / "rig")
    server = make_server(frames_dir=rig_dir)
    (rig_dir / "endpoints" / "alias.png").symlink_to(rig_dir / "endpoints" / "neutral__center.png")
    with server.client() as c:
        r = c.get("/frames/endpoints/alias.png")
    assert r.status_code == 200
    assert r.content == (rig_dir / "endpoints" / "neutral__center.png").read_bytes()
