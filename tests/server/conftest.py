"""A real app under uvicorn on a loopback port, one per test, talked to over HTTP."""

from __future__ import annotations

import io
import json
import math
import socket
import struct
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image
from starlette.applications import Starlette

from streamer.core.rig import Rig
from streamer.rigload import load_rig
from streamer.server.app import create_app
from streamer.server.run import uvicorn_config
from streamer.settings import Settings
from tests.rigs import FACE_RIG_CONFIG, listing_for

REPO = Path(__file__).resolve().parents[2]


def write_png_rig(root: Path, size: tuple[int, int] = (16, 24)) -> Path:
    """A small face_rig-shaped rig with real (tiny, distinct) PNG files."""
    root.mkdir(parents=True, exist_ok=True)
    config = dict(FACE_RIG_CONFIG, name="test-rig", size=list(size))
    (root / "rig.json").write_text(json.dumps(config))
    for i, key in enumerate(sorted(listing_for(FACE_RIG_CONFIG).files)):
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGBA", size, (i % 256, (i // 256) % 256, 128, 255)).save(path, "PNG")
    return root


@pytest.fixture(scope="session")
def rig_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's rig in ``frames/`` when it is there, else a small generated one."""
    real = REPO / "frames"
    if (real / "rig.json").is_file() or (real / "expressions.json").is_file():
        return real
    return write_png_rig(tmp_path_factory.mktemp("rig") / "frames")


@pytest.fixture(scope="session")
def rig(rig_dir: Path) -> Rig:
    return load_rig(rig_dir)


@dataclass
class LiveServer:
    base_url: str
    port: int
    app: Starlette
    settings: Settings

    def client(self, timeout: float = 10, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout, **kwargs)

    def raw(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send ``request`` bytes as they are (no URL normalisation) and read the response."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(request)
            data = b""
            while True:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split(" ")[1]), headers, body

    def get_raw(self, target: str, headers: str = "") -> tuple[int, dict[str, str], bytes]:
        return self.raw(f"GET {target} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n".encode("latin-1"))


MakeServer = Callable[..., LiveServer]


class ServerThread:
    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        # The real app's settings; other apps (the fake OpenAI/ElevenLabs) get the defaults.
        settings = getattr(app.state, "settings", None) or Settings.from_env({})
        config = uvicorn_config(app, settings, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start (see the log above)")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


def serve(app: Starlette, running: list[ServerThread]) -> LiveServer:
    """Start ``app`` under uvicorn on a free loopback port; ``running`` collects it for stopping."""
    thread = ServerThread(app)
    thread.start()
    running.append(thread)
    return LiveServer(f"http://127.0.0.1:{thread.port}", thread.port, app, app.state.settings)


@pytest.fixture
def make_server(rig: Rig, rig_dir: Path, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start servers with ``Settings`` overrides; each gets ``tmp_path/data`` unless told otherwise."""
    running: list[ServerThread] = []

    def start(preload: bool = True, **overrides: Any) -> LiveServer:
        settings = Settings.from_env({}).replace(
            frames_dir=rig_dir,
            data_dir=tmp_path / "data",
            examples_dir=REPO / "examples",
            client_dir=REPO / "client",
        )
        settings = settings.replace(**overrides)
        return serve(create_app(settings, rig=rig if preload and settings.frames_dir == rig_dir else None), running)

    yield start
    for thread in running:
        thread.stop()


@pytest.fixture(scope="session")
def shared_server(rig: Rig, rig_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the whole session, for tests that only read."""
    settings = Settings.from_env({}).replace(
        frames_dir=rig_dir,
        data_dir=tmp_path_factory.mktemp("shared") / "data",
        examples_dir=REPO / "examples",
        client_dir=REPO / "client",
    )
    app = create_app(settings, rig=rig)
    thread = ServerThread(app)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{thread.port}", thread.port, app, settings)
    thread.stop()


@pytest.fixture
def server(make_server: Callable[..., LiveServer]) -> LiveServer:
    return make_server()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def wav_bytes(duration_ms: int, rate: int = 8000, freq: float = 440.0) -> bytes:
    """A mono 16-bit PCM sine WAV, built with the standard library."""
    n = rate * duration_ms // 1000
    frames = b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq * i / rate))) for i in range(n))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()
