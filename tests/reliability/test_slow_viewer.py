"""A viewer that stops reading is dropped within seconds, while a reading viewer stays on time.

The slow viewer is a raw TCP socket with a tiny receive buffer that does the WebSocket
handshake by hand, reads a little, then never reads again: the kernel buffers would absorb
its backlog for minutes, so only a server that watches what the viewer actually consumed
(a write deadline, or a ping it must answer) notices. The bound allows the 2 s of the
contract plus scheduling slack on a loaded machine.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from benchmarks.workloads import lipsync_timeline
from tests.reliability.conftest import JSON, ServerProcess

CHANNEL = "slowpoke"
DROP_WITHIN_S = 4.0


def _viewers(http: httpx.Client) -> int:
    return int(http.get(f"/channels/{CHANNEL}").json()["viewers"])


def _raw_viewer(port: int) -> socket.socket:
    """A WebSocket viewer made by hand, so nothing reads for it once we stop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws?channel={CHANNEL} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "the server closed the slow viewer during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


class ClockedViewer:
    """A reading viewer on its own thread: every frame it gets, with its arrival on the server clock."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.offset = self._clock_offset()
        self.late: list[tuple[int, float]] = []
        self.frames_after: list[float] = []  # arrival times (server clock) of frames messages
        self.closed: int | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def now(self) -> float:
        return time.monotonic() * 1000 + self.offset

    def _clock_offset(self) -> float:
        best: tuple[float, float] | None = None
        for i in range(8):
            sent = time.monotonic() * 1000
            self.ws.send(json.dumps({"type": "ping", "id": i, "client_time": sent}))
            while True:
                message = json.loads(self.ws.recv(timeout=10))
                if message["type"] == "pong" and message["id"] == i:
                    break
            got = time.monotonic() * 1000
            if best is None or got - sent < best[0]:
                best = (got - sent, message["server_time_ms"] - (sent + got) / 2)
        assert best is not None
        return best[1]

    def _read(self) -> None:
        joined = False  # the first frames message starts with the frame already on screen
        try:
            for raw in self.ws:
                at = self.now()
                message = json.loads(raw)
                if message["type"] != "frames":
                    continue
                self.frames_after.append(at)
                if not joined:
                    joined = True
                    continue
                self.late += [(t, at) for t, _url in message["frames"] if t < at]
        except ConnectionClosed as exc:
            self.closed = exc.rcvd.code if exc.rcvd is not None else 1006


@pytest.fixture
def server(rig_dir: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    """``streamer serve`` as users run it: the keepalive and write deadlines are set up by the CLI."""
    process = ServerProcess(tmp_path / "data", tmp_path / "server.log", rig_dir)
    process.start()
    yield process
    process.stop()


def test_a_viewer_that_stops_reading_is_dropped_and_the_others_stay_on_time(server: ServerProcess) -> None:
    with server.client(timeout=10) as http:
        # A controller creates the channel and starts a minute of dense lip-sync.
        played = http.post(f"/channels/{CHANNEL}/play", json={"timeline": lipsync_timeline(60_000)}, headers=JSON)
        assert played.status_code == 200, played.text

        url = f"ws://127.0.0.1:{server.port}/ws?channel={CHANNEL}"
        with connect(url, open_timeout=10, max_size=None, compression=None) as ws:
            good = ClockedViewer(ws)
            slow = _raw_viewer(server.port)
            try:
                assert _viewers(http) == 2
                slow.recv(512)  # it read its first bytes, then stops for good
                stopped = time.monotonic()
                while _viewers(http) > 1 and time.monotonic() - stopped < 30:
                    time.sleep(0.1)
                dropped_after_s = time.monotonic() - stopped
                assert _viewers(http) == 1, "the viewer that stopped reading is still attached after 30 s"
                assert dropped_after_s <= DROP_WITHIN_S, f"dropped {dropped_after_s:.1f} s after it stopped reading"
                # The server let go of the connection too: reading now ends (backlog, maybe a close frame, EOF).
                slow.settimeout(10)
                try:
                    while slow.recv(65536):
                        pass
                except ConnectionResetError:
                    pass  # an abort is a way to let go too
                except TimeoutError:
                    raise AssertionError("the server detached the viewer but kept its connection open") from None
            finally:
                slow.close()
            time.sleep(1.5)  # the reading viewer keeps getting frames after the drop
            received_by = good.now()
            assert good.closed is None, f"the reading viewer was closed with {good.closed}"
            assert any(at > received_by - 1500 for at in good.frames_after), "no frames for the reading viewer lately"
            assert good.late == [], f"{len(good.late)} late frames at the reading viewer, first {good.late[:3]}"
