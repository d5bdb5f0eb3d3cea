"""Safe defaults on the real server: origins, content types, strict JSON, bounded work, early closes."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamer.core.resolve import resolve
from tests.server.conftest import LiveServer, wav_bytes
from tests.server.test_live import command, recv, ws_url

DOC = {"version": 1, "tracks": {}, "duration_ms": 500}
JSON = {"Content-Type": "application/json"}


def test_a_foreign_origin_cannot_write_even_with_cors_star(server: LiveServer) -> None:
    own = f"http://127.0.0.1:{server.port}"
    with server.client() as c:
        for origin in ("http://localhost:9", "null", f"http://127.0.0.1:{server.port + 1}"):
            r = c.post("/channels/main/set", json={"expr": "happy_soft"}, headers={"Origin": origin})
            assert r.status_code == 403 and "CORS_ORIGINS" in r.json()["error"], (origin, r.text)
            assert c.put("/timelines/planted", json=DOC, headers={"Origin": origin}).status_code == 403
        assert c.get("/timelines/planted").status_code == 404
        assert c.get("/channels/main").json()["state"]["expr"] == "neutral"
        # Reads stay open to any origin (CORS_ORIGINS=*), and the server's own pages may write.
        assert c.get("/rig", headers={"Origin": "http://localhost:9"}).status_code == 200
        assert c.post("/channels/main/set", json={"expr": "happy_soft"}, headers={"Origin": own}).status_code == 200


def test_json_routes_need_a_json_content_type(server: LiveServer) -> None:
    body = json.dumps({"expr": "happy_soft"}).encode()
    with server.client() as c:
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
            headers = {"Content-Type": ctype} if ctype else {}
            for url in ("/channels/main/set", "/timelines", "/timelines/validate", "/speech", "/exports"):
                r = c.post(url, content=body, headers=headers)
                assert r.status_code == 415, (url, ctype, r.status_code)
                assert "application/json" in r.json()["error"]
        assert c.get("/channels/main").json()["state"]["expr"] == "neutral"
        assert c.post("/channels/main/set", content=body, headers={"Content-Type": "application/json; charset=utf-8"})
        assert c.post("/channels/main/stop").status_code == 200  # an empty body needs no type


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"expr": "\xff\xfe"}', "not UTF-8"),
        (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
        (b'{"a":' * 70 + b"1" + b"}" * 70, "nested too deeply"),
        (b'{"duration_ms": ' + b"9" * 5000 + b"}", "4300 digits"),
        (b'{"version": 1, "tracks": {"words": [{"t_ms": 0, "end_ms": 9, "text": "\\ud800"}]}}', "lone surrogate"),
        (b'{"text": "\\udfff hi"}', "lone surrogate"),
    ],
    ids=["bad-utf8", "deeper-than-recursion", "deeper-than-64", "5000-digits", "lone-high", "lone-low"],
)
def test_malformed_json_is_a_4xx_that_names_the_problem(server: LiveServer, body: bytes, named: str) -> None:
    with server.client() as c:
        for url in ("/timelines", "/timelines/validate", "/channels/main/play", "/speech", "/emotions", "/exports"):
            r = c.post(url, content=body, headers=JSON)
            assert 400 <= r.status_code < 500, (url, r.status_code, r.text[:200])
            assert named in r.json()["error"], (url, r.json())
        assert c.get("/health").status_code == 200


async def test_binary_and_over_deep_socket_messages_get_an_error_and_the_socket_stays(server: LiveServer) -> None:
    async with connect(ws_url(server)) as ws:
        await recv(ws, "hello")
        await ws.send(b"\x00\x01binary")
        error = await recv(ws, "error")
        assert error["code"] == "bad_message" and "binary" in error["message"]
        await ws.send("[" * 10_000 + "]" * 10_000)
        error = await recv(ws, "error")
        assert error["code"] == "bad_json" and "nested too deeply" in error["message"]
        await ws.send('{"type": "ping", "id": "\\ud800", "client_time": 1}')
        assert "lone surrogate" in (await recv(ws, "error"))["message"]
        await ws.send(json.dumps({"type": "ping", "id": 7, "client_time": 1}))
        assert (await recv(ws, "pong"))["id"] == 7


async def test_at_ms_must_be_a_plausible_server_time(server: LiveServer) -> None:
    timeline = {"version": 1, "tracks": {}, "duration_ms": 300}
    async with connect(ws_url(server, role="controller")) as ctl:
        hello = await recv(ctl, "hello")
        now = hello["server_time_ms"]
        for at_ms in (10**30, now + 25 * 3600 * 1000, -1, "soon", 1.5):
            error = await command(ctl, type="play", id=1, timeline=timeline, at_ms=at_ms)
            assert error["type"] == "error" and error["message"].startswith("at_ms: must be an integer"), error
            assert str(10**30) not in error["message"]
        ack = await command(ctl, type="play", id=2, timeline=timeline, at_ms=now + 2000)
        assert ack["type"] == "ack" and ack["result"]["start_ms"] >= now + 2000


async def test_a_controller_can_send_its_token_as_the_first_message(make_server: Callable[..., LiveServer]) -> None:
    server = make_server(token="t0ken")
    async with connect(ws_url(server, role="controller")) as ctl:
        await ctl.send(json.dumps({"type": "auth", "token": "t0ken"}))
        assert (await recv(ctl, "hello"))["role"] == "controller"
        assert (await command(ctl, type="set", id=1, expr="happy_soft"))["type"] == "ack"
    async with connect(ws_url(server, role="controller")) as ctl:
        await ctl.send(json.dumps({"type": "auth", "token": "wrong"}))
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ctl, "hello")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    async with connect(ws_url(server, role="controller")) as ctl:
        await ctl.send(json.dumps({"type": "set", "id": 1, "expr": "happy_big"}))  # no auth first
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ctl, "hello")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    with server.client() as c:
        assert c.get("/channels/main").json()["state"]["expr"] == "happy_soft"


def _slow_body(first: bytes, hold: threading.Event) -> Iterator[bytes]:
    yield first
    hold.wait(20)
    yield b"}"


def test_heavy_public_routes_are_bounded_with_retry_after(make_server: Callable[..., LiveServer]) -> None:
    server = make_server(heavy_concurrency=1)
    hold = threading.Event()
    results: list[int] = []

    def occupy() -> None:
        with server.client(timeout=30) as c:
            body = _slow_body(json.dumps(DOC).encode()[:-1], hold)
            results.append(c.post("/timelines/validate", content=body, headers=JSON).status_code)

    worker = threading.Thread(target=occupy)
    worker.start()
    try:
        with server.client() as c:
            deadline = time.monotonic() + 10
            while server.app.state.server.heavy.free and time.monotonic() < deadline:
                time.sleep(0.01)
            assert server.app.state.server.heavy.free == 0
            for method, url in (("POST", "/timelines/validate"), ("GET", "/timelines/hello/schedule?fps=60")):
                r = c.request(method, url, json=DOC if method == "POST" else None)
                assert r.status_code == 429 and r.headers["retry-after"] == "1", (url, r.text)
                assert "at once" in r.json()["error"]
            assert c.get("/timelines/hello/captions.srt").status_code == 429
            assert c.post("/channels/main/set", json={"expr": "happy_soft"}).status_code == 200  # live control is not
    finally:
        hold.set()
        worker.join(30)
    assert results == [200]
    with server.client() as c:
        r = c.get("/timelines/hello/schedule", params={"fps": 60})
        state = server.app.state.server
        expected = resolve(state.timelines.load("hello"), state.rig).to_json(60)
        assert r.status_code == 200 and r.json() == {"id": "hello", **expected}


def test_an_early_error_closes_the_connection_instead_of_reading_the_upload(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        # 4 MB announced (under the JSON limit), 1 kB sent, the wrong type: refused before reading.
        sock.sendall(
            b"POST /timelines/validate HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 4000000\r\n\r\n" + b"x" * 1024
        )
        answer = b""
        try:
            while data := sock.recv(65536):  # b"" (end of stream) only if the server closes
                answer += data
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 415"), answer[:80]
    assert b"connection: close" in answer.lower()


def test_crash_leftovers_are_swept_at_start_up(make_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "timelines").mkdir(parents=True)
    (data / "audio").mkdir(parents=True)
    (data / "timelines" / "kept.json").write_text(json.dumps(DOC))
    (data / "timelines" / ".tmp-abc123.json").write_text("{half a docu")
    (data / "audio" / ".upload-xyz").write_bytes(wav_bytes(100)[:50])
    server = make_server()
    assert sorted(p.name for p in (data / "timelines").iterdir() if p.name.startswith(".")) == []
    assert sorted(p.name for p in (data / "audio").iterdir() if p.name.startswith(".")) == []
    with server.client() as c:
        assert c.get("/timelines/kept").json() == DOC


def test_stores_do_not_follow_symlinks_planted_in_the_data_folder(
    make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"version": 1, "tracks": {}, "duration_ms": 777}))
    outside_audio = tmp_path / "outside.wav"
    outside_audio.write_bytes(wav_bytes(200))
    server = make_server()
    data = server.settings.data_dir
    os.symlink(secret, data / "timelines" / "leak.json")
    os.symlink(outside_audio, data / "audio" / "leak.wav")
    with server.client() as c:
        assert c.get("/timelines/leak").status_code == 404
        assert "leak" not in [t["id"] for t in c.get("/timelines").json()]
        assert c.get("/audio/leak.wav").status_code == 404
        assert c.post("/channels/main/play", json={"timeline_id": "leak"}).status_code == 404


def test_a_malformed_body_is_422_on_every_json_route(server: LiveServer) -> None:
    routes = ("/timelines", "/timelines/validate", "/timelines/schedule", "/channels/main/play", "/speech")
    routes += ("/emotions", "/exports")
    with server.client() as c:
        for url in routes:
            for body, named in ((b"{not json", "invalid JSON"), (b"", "empty"), (b'"text"', "must be")):
                if not body and url.startswith("/channels/"):
                    continue  # a command may have no body (stop, interrupt)
                r = c.post(url, content=body, headers=JSON)
                assert r.status_code == 422, (url, body, r.status_code, r.text[:200])
                assert named in r.json()["error"], (url, body, r.json())
        # Fields a route does not take: the body's fault too (a command's fields are the command's to check).
        for url in ("/speech", "/emotions", "/exports"):
            r = c.post(url, json={"zzz": 1})
            assert r.status_code == 422, (url, r.status_code, r.text[:200])
            assert r.json()["error"].startswith("zzz: unknown field"), (url, r.json())
        form = {"zzz": (None, "1"), "audio": ("a.wav", b"RIFF", "audio/wav")}
        r = c.post("/align", files=form)
        assert r.status_code == 422 and r.json()["error"].startswith("zzz: unknown field"), r.text[:200]
