"""Live channels end to end: the real app under uvicorn, viewers on the websockets client."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.server.conftest import LiveServer, wav_bytes

TIMEOUT = 10


def ws_url(server: LiveServer, channel: str = "main", **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"channel": channel, **params}.items())
    return f"ws://127.0.0.1:{server.port}/ws?{query}"


def server_now(server: LiveServer) -> int:
    return int(server.app.state.server.channels.now_ms())


async def recv(ws: ClientConnection, kind: str | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next message (of type ``kind`` if given)."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if kind is None or message["type"] == kind:
            return message


async def command(ws: ClientConnection, **body: Any) -> dict[str, Any]:
    await ws.send(json.dumps(body))
    while True:
        message = await recv(ws)
        if message["type"] in ("ack", "error") and message.get("id") == body.get("id"):
            return message


class FrameQueue:
    """A viewer's queue with the protocol's replace-from-time rule, and arrival margins."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.frames: list[tuple[int, str]] = []
        self.margins: list[int] = []
        self.messages: list[dict[str, Any]] = []

    def apply(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if message["type"] != "frames":
            return
        now = server_now(self.server)
        self.frames = [f for f in self.frames if f[0] < message["from_ms"]]
        for t, url in message["frames"]:
            if t > message["from_ms"]:  # the first pair may be the frame already on screen
                self.margins.append(t - now)
            self.frames.append((t, url))

    def at(self, t: int) -> str:
        return [u for ts, u in self.frames if ts <= t][-1]

    async def follow(self, ws: ClientConnection, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                self.apply(json.loads(await asyncio.wait_for(ws.recv(), left)))
            except TimeoutError:
                return


@pytest.fixture
def upload_hello(server: LiveServer) -> Callable[[], str]:
    """Store a 2 s timeline with audio under the id ``talk``; returns the audio id."""

    def run() -> str:
        with server.client() as c:
            audio = c.post("/audio", content=wav_bytes(2000), headers={"Content-Type": "audio/wav"})
            assert audio.status_code == 201, audio.text
            audio_id = audio.json()["id"]
            doc = {
                "version": 1,
                "audio": {"id": audio_id, "offset_ms": 0},
                "tracks": {
                    "emotion": [{"t_ms": 0, "expr": "happy_soft", "transition_ms": 300}],
                    "speech": [
                        {"t_ms": 400, "end_ms": 600, "viseme": "speaking_ah"},
                        {"t_ms": 700, "end_ms": 900, "viseme": "speaking_ee"},
                    ],
                },
                "duration_ms": 2500,
            }
            assert c.put("/timelines/talk", json=doc).status_code in (200, 201)
        return str(audio_id)

    return run


async def test_hello_then_frames_from_the_frame_on_screen(server: LiveServer) -> None:
    async with connect(ws_url(server)) as ws:
        hello = await recv(ws)
        assert hello["type"] == "hello" and hello["protocol"] == 1 and hello["channel"] == "main"
        assert hello["role"] == "viewer" and hello["program"] is None
        assert hello["frame_size"] == list(server.app.state.server.rig.config.size)
        assert hello["frame_base_url"] == "/frames/"
        assert abs(hello["server_time_ms"] - server_now(server)) < 1000
        frames = await recv(ws)
        assert frames["type"] == "frames"
        assert frames["frames"][0][1] == "/frames/endpoints/neutral__center.png"


async def test_clock_sync_by_ping_pong_is_within_a_few_ms(server: LiveServer) -> None:
    async with connect(ws_url(server)) as ws:
        best: tuple[float, float] | None = None
        for i in range(6):
            sent = time.monotonic() * 1000
            await ws.send(json.dumps({"type": "ping", "id": i, "client_time": sent}))
            pong = await recv(ws, "pong")
            got = time.monotonic() * 1000
            assert pong["id"] == i and pong["client_time"] == sent
            offset = pong["server_time_ms"] - (sent + got) / 2
            if best is None or got - sent < best[0]:
                best = (got - sent, offset)
        assert best is not None
        true_offset = server_now(server) - time.monotonic() * 1000
        assert abs(best[1] - true_offset) < 5 + best[0]


async def test_frames_arrive_before_their_time_and_in_order(server: LiveServer) -> None:
    async with connect(ws_url(server)) as ws:
        q = FrameQueue(server)
        await q.follow(ws, 3.0)
        times = [t for t, _ in q.frames]
        assert times == sorted(times)
        assert q.margins and min(q.margins) > 0, "every pushed frame arrived before its time"
        assert len([m for m in q.messages if m["type"] == "frames"]) >= 2


async def test_set_replaces_queued_frames_from_now_plus_lead(server: LiveServer) -> None:
    async with connect(ws_url(server)) as viewer, connect(ws_url(server, role="controller")) as ctl:
        q = FrameQueue(server)
        await q.follow(viewer, 0.5)
        ack = await command(ctl, type="set", id="s1", expr="happy_big", pose="nod_down_small", transition_ms=400)
        assert ack["type"] == "ack" and ack["ok"] is True
        result = ack["result"]
        assert (result["expr"], result["pose"]) == ("happy_big", "nod_down_small")
        replan = await recv(viewer, "frames")
        assert replan["from_ms"] == result["t_ms"] - 400
        q.apply(replan)
        state = await recv(viewer, "state")
        assert state["expr"] == "happy_big" and state["t_ms"] == result["t_ms"]
        assert q.at(result["t_ms"] + 50) == "/frames/endpoints/happy_big__nod_down_small.png"


async def test_two_viewers_see_identical_frames(server: LiveServer) -> None:
    async with connect(ws_url(server, "pair")) as a, connect(ws_url(server, "pair")) as b:
        # Viewers of a channel no controller has created wait for it; the controller creates it.
        assert await recv(a) == await recv(b) == {"type": "waiting", "channel": "pair"}
        async with connect(ws_url(server, "pair", role="controller")) as ctl:
            await recv(a, "frames"), await recv(b, "frames")
            ack = await command(ctl, type="set", id=1, expr="concerned", transition_ms=300)
            from_ms = ack["result"]["t_ms"] - 300
            await command(ctl, type="set", id=2, expr="neutral", pose="tilt_right_small")
            qa, qb = FrameQueue(server), FrameQueue(server)
            await asyncio.gather(qa.follow(a, 2.0), qb.follow(b, 2.0))

        def since_command(q: FrameQueue) -> list[dict[str, Any]]:
            pushed = [m for m in q.messages if m["type"] in ("frames", "state")]
            first = next(i for i, m in enumerate(pushed) if m.get("from_ms") == from_ms)
            return pushed[first:]

        assert len(since_command(qa)) >= 4 and since_command(qa) == since_command(qb)


async def test_play_with_audio_then_late_joiner_gets_the_cue(server: LiveServer, upload_hello: Any) -> None:
    audio_id = upload_hello()
    async with connect(ws_url(server, role="controller")) as ctl, connect(ws_url(server)) as viewer:
        await recv(viewer, "frames")
        ack = await command(ctl, type="play", id="p", timeline_id="talk")
        program = ack["result"]
        assert program["timeline_id"] == "talk" and program["duration_ms"] == 2500
        assert program["audio"]["url"] == f"/audio/{audio_id}"
        start = await recv(viewer, "program_start")
        audio = await recv(viewer, "audio")
        assert start["program"]["id"] == program["id"] == audio["program_id"]
        assert audio["start_ms"] == program["start_ms"] and 1900 <= audio["duration_ms"] <= 2100
        # Announced ahead (time to fetch the audio): join once it has been playing a while.
        await asyncio.sleep((program["start_ms"] - server_now(server) + 300) / 1000)
        async with connect(ws_url(server)) as late:
            messages = [await recv(late) for _ in range(4)]
            assert [m["type"] for m in messages] == ["hello", "frames", "program_start", "audio"]
            assert messages[0]["program"]["id"] == program["id"]
            assert messages[3]["start_ms"] == program["start_ms"], "the late joiner seeks by the same clock"
            joined_at = messages[1]["from_ms"]
            assert joined_at > program["start_ms"]
            schedule = (await asyncio.to_thread(httpx.get, f"{server.base_url}/timelines/talk/schedule")).json()
            on_screen = [k for t, k in schedule["changes"] if t <= joined_at - program["start_ms"]][-1]
            assert messages[1]["frames"][0] == [joined_at, "/frames/" + on_screen]
            end = await recv(late, "program_end", timeout=5)
            assert end == {
                "type": "program_end",
                "program_id": program["id"],
                "reason": "finished",
                "t_ms": program["end_ms"],
            }


async def test_stop_ends_the_program_for_everyone(server: LiveServer, upload_hello: Any) -> None:
    upload_hello()
    async with connect(ws_url(server, role="controller")) as ctl, connect(ws_url(server)) as viewer:
        await command(ctl, type="play", id=1, timeline_id="talk")
        ack = await command(ctl, type="stop", id=2)
        assert ack["result"]["stopped"].startswith("main-")
        end = await recv(viewer, "program_end")
        assert end["reason"] == "stopped"


async def test_inline_timeline_and_rest_commands(server: LiveServer) -> None:
    async with connect(ws_url(server, "rest")) as viewer:
        assert (await recv(viewer))["type"] == "waiting"  # until a command creates the channel
        with server.client() as c:
            played = c.post(
                "/channels/rest/play",
                json={
                    "timeline": {
                        "keyframes": [
                            {
                                "time_ms": 0,
                                "target_expr": "happy_soft",
                                "target_pose": "center",
                                "transition_duration_ms": 300,
                            }
                        ]
                    }
                },
            )
            assert played.status_code == 200, played.text
            assert (await recv(viewer, "program_start"))["program"]["id"] == played.json()["id"]
            got = c.post("/channels/rest/set", json={"pose": "tilt_left_small"})
            assert got.status_code == 200 and got.json()["pose"] == "tilt_left_small"
            info = c.get("/channels/rest").json()
            assert info["viewers"] == 1 and info["state"]["pose"] == "tilt_left_small"
            assert c.post("/channels/rest/set", json={"expr": "hapy"}).status_code in (400, 422)
            assert c.get("/channels/nope").status_code == 404
            assert c.post("/channels/rest/dance", json={}).status_code == 404


async def test_bad_messages_get_a_named_error(server: LiveServer) -> None:
    async with connect(ws_url(server)) as viewer, connect(ws_url(server, role="controller")) as ctl:
        await viewer.send("{not json")
        assert (await recv(viewer, "error"))["code"] == "bad_json"
        await viewer.send(json.dumps({"type": "dance", "id": 3}))
        error = await recv(viewer, "error")
        assert error["code"] == "unknown_type" and "dance" in error["message"] and error["id"] == 3
        await viewer.send(json.dumps({"type": "set", "id": 4, "expr": "happy_big"}))
        assert (await recv(viewer, "error"))["code"] == "forbidden"
        error = await command(ctl, type="set", id=5, expr="hapy_big")
        assert error["code"] == "bad_message" and "did you mean 'happy_big'" in error["message"]
        error = await command(ctl, type="play", id=6, timeline_id="missing")
        assert error["code"] == "not_found"
        error = await command(
            ctl, type="play", id=7, timeline={"version": 1, "tracks": {"pose": [{"t_ms": -5, "pose": "x"}]}}
        )
        assert error["code"] == "invalid_timeline" and "t_ms" in error["message"]
        error = await command(ctl, type="set", id=8, pose="center", transition_ms=1.5)
        assert error["code"] == "bad_message" and "transition_ms" in error["message"]


async def test_oversized_message_closes_with_1009(server: LiveServer) -> None:
    async with connect(ws_url(server), max_size=None) as ws:
        await ws.send(json.dumps({"type": "ping", "pad": "x" * 70_000}))
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_flooding_closes_with_4029(server: LiveServer) -> None:
    async with connect(ws_url(server)) as ws:
        with pytest.raises(ConnectionClosed) as info:
            for i in range(200):
                await ws.send(json.dumps({"type": "ping", "id": i, "client_time": 0}))
            while True:
                await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 4029


async def test_bad_channel_name_closes_with_4002(server: LiveServer) -> None:
    async with connect(ws_url(server, "Bad%20Name")) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 4002


async def test_controller_needs_the_token(make_server: Any) -> None:
    server = make_server(token="s3cret-token")
    async with connect(ws_url(server, role="controller")) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 4001
    async with connect(ws_url(server, role="controller", token="s3cret-token")) as ws:
        assert (await recv(ws))["role"] == "controller"
    async with connect(
        ws_url(server, role="controller"), additional_headers={"Authorization": "Bearer s3cret-token"}
    ) as ws:
        assert (await command(ws, type="set", id=1, expr="happy_soft"))["type"] == "ack"
    async with connect(ws_url(server)) as ws:
        assert (await recv(ws))["role"] == "viewer", "viewers need no token"
    with server.client() as c:
        assert c.post("/channels/main/set", json={"expr": "happy_soft"}).status_code == 401
        ok = c.post("/channels/main/set", json={"expr": "happy_soft"}, headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200


async def test_origin_is_checked_for_websockets(make_server: Any) -> None:
    server = make_server(cors_origins=("https://studio.example",))
    async with connect(ws_url(server), origin="https://evil.example") as ws:  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    async with connect(ws_url(server), origin="https://studio.example") as ws:  # type: ignore[arg-type]
        assert (await recv(ws))["type"] == "hello"


class RawViewer:
    """A viewer on a bare socket with a tiny receive buffer, so it can stop reading for real."""

    def __init__(self, server: LiveServer, channel: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", server.port))
        self.sock.sendall(
            f"GET /ws?channel={channel} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(1024)
        assert self.buffer.startswith(b"HTTP/1.1 101")
        self.buffer = self.buffer.split(b"\r\n\r\n", 1)[1]

    def read_until_close(self, timeout: float) -> tuple[int, int]:
        """Read frames until a close frame; (messages read, close code)."""
        self.sock.settimeout(timeout)
        messages = 0
        while True:
            while len(self.buffer) < 2 or len(self.buffer) < self._frame_len():
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed without a close frame")
                self.buffer += chunk
            opcode, payload = self.buffer[0] & 0x0F, self._payload()
            self.buffer = self.buffer[self._frame_len() :]
            if opcode == 0x8:
                return messages, int.from_bytes(payload[:2], "big")
            messages += 1

    def _header(self) -> tuple[int, int]:
        n = self.buffer[1] & 0x7F
        if n == 126:
            return 4, int.from_bytes(self.buffer[2:4], "big") if len(self.buffer) >= 4 else 1 << 30
        if n == 127:
            return 10, int.from_bytes(self.buffer[2:10], "big") if len(self.buffer) >= 10 else 1 << 30
        return 2, n

    def _frame_len(self) -> int:
        head, n = self._header()
        return head + n

    def _payload(self) -> bytes:
        head, n = self._header()
        return self.buffer[head : head + n]


async def test_a_viewer_that_stops_reading_is_dropped_and_others_stay_on_time(make_server: Any) -> None:
    server = make_server(viewer_queue=32, lookahead_ms=60_000, batch_ms=250)
    service = server.app.state.server.channels
    with server.client() as c:  # a controller creates the channel; viewers then join it at once
        assert c.post("/channels/slow/set", json={"expr": "neutral"}).status_code == 200
    slow = RawViewer(server, "slow")  # connects, then reads nothing until the end
    async with connect(ws_url(server, "slow")) as good:
        q = FrameQueue(server)
        ctls = [await connect(ws_url(server, "slow", role="controller")) for _ in range(8)]
        dropped = asyncio.Event()
        channel = service.channels["slow"]
        deadline = time.monotonic() + 5
        while channel.viewers < 10 and time.monotonic() < deadline:  # the 101 precedes registration
            await asyncio.sleep(0.01)
        connected = channel.viewers
        assert connected == 10
        try:
            poses = ["center", "tilt_left_small", "nod_up_small", "tilt_right_small", "nod_down_small"]

            async def hammer(ws: ClientConnection, k: int) -> None:
                # Neutral blinks, so every re-plan carries a minute of blink frames (~10 kB).
                deadline = time.monotonic() + 20
                i = 0
                while not dropped.is_set() and time.monotonic() < deadline:
                    await command(ws, type="set", id=i, expr="neutral", pose=poses[(i + k) % 5], transition_ms=100)
                    await asyncio.sleep(0.06)
                    i += 1
                    if channel.viewers < connected:
                        dropped.set()

            async def follow() -> None:
                deadline = time.monotonic() + 25
                while not dropped.is_set() and time.monotonic() < deadline:
                    await q.follow(good, 0.2)
                await q.follow(good, 0.5)

            await asyncio.gather(follow(), *(hammer(c, k) for k, c in enumerate(ctls)))
        finally:
            # Keep reading the good viewer while the controllers (which stopped reading) close:
            # idle channels send a frames message every second, and a viewer left unread is dropped.
            reading = asyncio.ensure_future(q.follow(good, 30))
            await asyncio.gather(*(c.close() for c in ctls))
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        assert dropped.is_set() and channel.viewers == 1, "the slow viewer was dropped; the reading one stays"
        viewers = service.fanout.viewers("slow")
        assert all(len(v.queue) <= 32 for v in viewers), "queues stay bounded"
        assert q.margins and min(q.margins) >= 0, "the reading viewer got every frame before its time"
    read, code = await asyncio.to_thread(slow.read_until_close, TIMEOUT)
    # Dropped by whichever bound it hit first: the queue (4008) or the read deadline (1011,
    # "keepalive ping timeout"); once it reads again it learns it was dropped, and can reconnect.
    assert code in (4008, 1011)
    assert read > 0
