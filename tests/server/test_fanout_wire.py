"""Broadcasts framed once and written straight to uvicorn's transports (server/fanout.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from streamer.server.fanout import ws_frame
from tests.server.test_live import recv, ws_url


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_text_frame_is_the_one_websockets_would_write(size: int) -> None:
    text = ("é" * size)[: max(0, size // 2)] + "x" * (size - size // 2)
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    assert ws_frame(text) == expected


async def test_viewers_under_uvicorn_get_broadcasts_written_to_their_transport(make_server: Any) -> None:
    server = make_server()
    service = server.app.state.server.channels
    with server.client() as c:
        assert c.post("/channels/wire/set", json={"expr": "neutral"}).status_code == 200
    async with connect(ws_url(server, "wire")) as a, connect(ws_url(server, "wire")) as b:
        await recv(a, "hello")
        await recv(b, "hello")
        viewers = list(service.fanout.viewers("wire"))
        assert len(viewers) == 2
        assert all(v.direct is not None for v in viewers), "uvicorn's connection was found for each viewer"
        with server.client() as c:
            result = c.post("/channels/wire/set", json={"expr": "happy_soft", "transition_ms": 200}).json()
        # Both viewers parse the same re-plan, written as bytes by the direct path: its frames
        # and then its state, in one write (two WebSocket frames back to back).
        got = []
        for ws in (a, b):
            while True:
                message = await recv(ws, "frames")
                if message["from_ms"] == result["t_ms"] - 200:
                    got.append(message)
                    break
            state = json.loads(await ws.recv())
            assert state["type"] == "state" and state["expr"] == "happy_soft"
        assert got[0] == got[1] and got[0]["frames"]
        # A reply to one viewer (a pong) is framed on its own, the same way.
        await a.send(json.dumps({"type": "ping", "id": "p", "client_time": 1}))
        pong = await recv(a, "pong")
        assert pong["id"] == "p"
