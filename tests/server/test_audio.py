"""Audio uploads and downloads over REST: probing, idempotent ids, size caps, ranges."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import httpx

from tests.server.conftest import LiveServer, MakeServer, wav_bytes


def audio_files(server: LiveServer) -> set[str]:
    return {p.name for p in (server.settings.data_dir / "audio").iterdir()}


def test_wav_upload_is_201_with_duration_and_content_type(client: httpx.Client, server: LiveServer) -> None:
    data = wav_bytes(1500)
    r = client.post("/audio?filename=take1.wav", content=data, headers={"content-type": "audio/wav"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["duration_ms"] == 1500
    assert body["content_type"] == "audio/wav"
    assert body["id"] == hashlib.sha256(data).hexdigest()[:16] + ".wav"
    assert r.headers["location"] == f"/audio/{body['id']}"
    assert (server.settings.data_dir / "audio" / body["id"]).read_bytes() == data


def test_uploading_the_same_bytes_twice_gives_the_same_id(client: httpx.Client, server: LiveServer) -> None:
    data = wav_bytes(300)
    before = audio_files(server)
    first = client.post("/audio", content=data).json()["id"]
    second = client.post("/audio", content=data).json()["id"]
    assert first == second
    assert audio_files(server) - before == {first}


def test_multipart_upload_in_the_file_field(client: httpx.Client) -> None:
    r = client.post("/audio", files={"file": ("voice.wav", wav_bytes(700), "audio/wav")})
    assert r.status_code == 201, r.text
    assert r.json()["duration_ms"] == 700


def test_multipart_without_a_file_field_is_rejected(client: httpx.Client) -> None:
    r = client.post("/audio", files={"other": ("voice.wav", wav_bytes(100), "audio/wav")})
    assert r.status_code == 422
    assert "'file'" in r.json()["error"]


def test_non_audio_is_rejected_naming_the_problem(client: httpx.Client, server: LiveServer) -> None:
    before = audio_files(server)
    r = client.post("/audio", content=b"this is certainly not a sound file " * 50)
    assert r.status_code == 422
    assert r.json()["error"].startswith("upload is not audio")
    assert client.post("/audio", content=Path(__file__).read_bytes()).status_code == 422
    assert client.post("/audio", content=b"").status_code == 422
    assert audio_files(server) == before


def test_an_image_is_not_audio(client: httpx.Client, server: LiveServer, rig_dir: Path) -> None:
    frame = next((rig_dir / "endpoints").glob("*.png")).read_bytes()
    r = client.post("/audio", content=frame)
    assert r.status_code == 422
    assert "audio" in r.json()["error"]


def test_too_long_audio_is_rejected(make_server: MakeServer) -> None:
    server = make_server(max_audio_s=1)
    with server.client() as c:
        r = c.post("/audio", content=wav_bytes(2000))
    assert r.status_code == 422
    assert "limit is 1 s" in r.json()["error"]


def test_oversized_upload_is_413_before_the_body_is_read(make_server: MakeServer) -> None:
    server = make_server(max_upload_mb=1)
    before = audio_files(server)
    # Announce 50 MB and send none of it: the answer must not wait for the body.
    status, _, body = server.raw(
        b"POST /audio HTTP/1.1\r\nHost: t\r\nContent-Type: audio/wav\r\nContent-Length: 52428800\r\n\r\n"
    )
    assert status == 413
    assert b"limit" in body
    assert audio_files(server) == before


def test_oversized_chunked_upload_is_cut_off_while_streaming(make_server: MakeServer) -> None:
    server = make_server(max_upload_mb=1)
    before = audio_files(server)
    chunk = b"\0" * 65536
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /audio HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = 0
        try:
            while sent < 1024 * 1024 + 3 * len(chunk):  # a little over the cap, then stop
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = b""
        try:
            while part := sock.recv(65536):
                response += part
        except ConnectionResetError:
            pass
    assert response.startswith(b"HTTP/1.1 413"), response[:100]
    assert audio_files(server) == before


def test_download_with_range_is_206(client: httpx.Client) -> None:
    data = wav_bytes(500)
    audio_id = client.post("/audio", content=data).json()["id"]
    full = client.get(f"/audio/{audio_id}")
    assert full.status_code == 200
    assert full.content == data
    assert full.headers["content-type"] == "audio/wav"
    assert full.headers["accept-ranges"] == "bytes"
    part = client.get(f"/audio/{audio_id}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"


def test_unknown_and_invalid_audio_ids(client: httpx.Client) -> None:
    r = client.get("/audio/0123456789abcdef.wav")
    assert r.status_code == 404
    assert "0123456789abcdef.wav" in r.json()["error"]
    assert client.get("/audio/..%2Fpyproject.toml").status_code in (400, 404)
    assert client.get("/audio/notes.txt").status_code == 400
