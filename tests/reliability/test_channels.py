"""Channels cannot be used up: viewers never create them, idle ones are reaped, controllers always get one."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from streamer.core.rig import Rig
from tests.reliability.conftest import JSON, start_server
from tests.server.conftest import LiveServer, ServerThread

STRANGERS = 100  # more than the default limit of 64 channels


@pytest.fixture
def idle_server(rig: Rig, rig_dir: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """A server that reaps channels after one idle second."""
    running: list[ServerThread] = []
    yield start_server(rig, rig_dir, tmp_path / "data", running, channel_idle_s=1)
    for thread in running:
        thread.stop()


def _open(ws: ClientConnection) -> bool:
    """Whether the server still keeps ``ws`` open (messages it sent meanwhile are read and dropped)."""
    try:
        while True:
            ws.recv(timeout=0.05)
    except TimeoutError:
        return True
    except ConnectionClosed:
        return False


def _first(ws: ClientConnection, kind: str, timeout_s: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if message.get("type") == kind:
            return dict(message)


def test_viewers_of_a_hundred_made_up_channels_do_not_lock_out_a_controller(
    module_server: LiveServer, http: httpx.Client
) -> None:
    ws_base = f"ws://127.0.0.1:{module_server.port}/ws"
    with contextlib.ExitStack() as stack:
        viewers = [
            stack.enter_context(connect(f"{ws_base}?channel=stranger-{i}", open_timeout=10, compression=None))
            for i in range(STRANGERS)
        ]
        response = http.post("/channels/real/set", json={"expr": "happy_soft"}, headers=JSON)
        assert response.status_code == 200, response.text
        assert http.get("/channels/real").status_code == 200
        for name in ("stranger-0", "stranger-63", "stranger-64", f"stranger-{STRANGERS - 1}"):
            assert http.get(f"/channels/{name}").status_code == 404, name
        # They were not turned away: they wait, and join when a controller creates their channel.
        assert all(_open(ws) for ws in viewers[:: STRANGERS // 10])
        assert http.post("/channels/stranger-7/set", json={"pose": "tilt_left_small"}, headers=JSON).status_code == 200
        hello = _first(viewers[7], "hello")
        assert hello["channel"] == "stranger-7"


def test_idle_channels_are_reaped_but_main_and_watched_channels_stay(idle_server: LiveServer) -> None:
    with idle_server.client() as http:
        for name in ("brief", "watched"):
            assert http.post(f"/channels/{name}/set", json={"expr": "happy_soft"}, headers=JSON).status_code == 200
        with connect(f"ws://127.0.0.1:{idle_server.port}/ws?channel=watched", open_timeout=10) as viewer:
            deadline = time.monotonic() + 15
            while http.get("/channels/brief").status_code == 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert http.get("/channels/brief").status_code == 404, "an idle channel with no viewers was kept"
            assert http.get("/channels/watched").status_code == 200
            assert _open(viewer)
        assert http.get("/channels/main").status_code == 200
        # A controller can always create a channel again.
        assert http.post("/channels/brief/set", json={"expr": "neutral"}, headers=JSON).status_code == 200
