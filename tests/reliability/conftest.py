"""Real servers for the reliability suite: the app under uvicorn in a thread, or ``streamer serve`` in a process.

In-thread servers come from ``tests/server/conftest.py``'s helpers; the suite keeps one per
module so thousands of fuzz cases cost no start-ups. Tests that kill the server, or read
everything it logs, run it as a real process (:class:`ServerProcess`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import tests.server.conftest as server_fixtures
from streamer.core.rig import Rig
from streamer.server.app import create_app
from streamer.settings import Settings
from tests.server.conftest import REPO, LiveServer, ServerThread, serve

# tests/server's session fixtures: the rig folder and the loaded rig.
rig, rig_dir = server_fixtures.rig, server_fixtures.rig_dir

JSON = {"Content-Type": "application/json"}
# WebSocket close codes a bad message may end with (docs/protocol.md): policy, too big, invalid
# UTF-8 in a text frame (RFC 6455), token, channel, too slow, flooding. Never 1000, 1006 or 1011.
DOCUMENTED_CLOSE_CODES = frozenset({1007, 1008, 1009, 4001, 4002, 4008, 4029})


def start_server(rig: Rig, rig_dir: Path, data_dir: Path, running: list[ServerThread], **overrides: Any) -> LiveServer:
    """The real app on a free loopback port with ``Settings`` overrides (``running`` collects it)."""
    settings = Settings.from_env({}).replace(
        frames_dir=rig_dir,
        data_dir=data_dir,
        examples_dir=REPO / "examples",
        client_dir=REPO / "client",
    )
    return serve(create_app(settings.replace(**overrides), rig=rig), running)


@pytest.fixture(scope="module")
def module_server(rig: Rig, rig_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for a whole module (each test uses its own channel or timeline ids)."""
    running: list[ServerThread] = []
    yield start_server(rig, rig_dir, tmp_path_factory.mktemp("reliability") / "data", running)
    for thread in running:
        thread.stop()


@pytest.fixture(scope="module")
def http(module_server: LiveServer) -> Iterator[httpx.Client]:
    """A pooled client for ``module_server``."""
    with module_server.client(timeout=30) as client:
        yield client


def assert_clean_rejection(response: httpx.Response, what: str) -> None:
    """No 5xx; a 4xx carries a JSON body with a non-empty string ``error``."""
    status = response.status_code
    assert status < 500, f"{what}: {status} {response.text[:300]!r}"
    if status >= 400:
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(f"{what}: {status} without a JSON body: {response.text[:300]!r}") from None
        error = body.get("error") if isinstance(body, dict) else None
        assert isinstance(error, str) and error.strip(), f"{what}: {status} without an 'error': {body!r:.300}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m streamer serve`` on a loopback port, its output in ``log_path``; can be killed and restarted."""

    def __init__(self, data_dir: Path, log_path: Path, rig_dir: Path, log_level: str = "info", **env: str) -> None:
        self.data_dir, self.log_path, self.rig_dir, self.log_level = data_dir, log_path, rig_dir, log_level
        self.env = env
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("STREAMER_", "CORS_", "USE_S3"))},
            "PYTHONPATH": str(REPO),
            "STREAMER_DATA_DIR": str(self.data_dir),
            "STREAMER_FRAMES_DIR": str(self.rig_dir),
            "STREAMER_EXAMPLES_DIR": str(REPO / "examples"),
            "STREAMER_CLIENT_DIR": str(REPO / "client"),
            **self.env,
        }
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamer", "serve", "--port", str(self.port), "--log-level", self.log_level],
                cwd=REPO,
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base_url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"streamer serve did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")
