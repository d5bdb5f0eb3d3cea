"""Several real server processes sharing channels through a real ``redis-server`` on loopback."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import tests.server.conftest as server_fixtures
from tests.reliability.conftest import ServerProcess, free_port

# tests/server's session fixtures: the rig folder and the loaded rig.
rig, rig_dir = server_fixtures.rig, server_fixtures.rig_dir

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """``redis-server`` on a free loopback port, without persistence; can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(argv, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {(self.workdir / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.05)

    def pause(self) -> None:
        """Stall it (SIGSTOP): connections stay open, nothing is answered until :meth:`resume`."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class Cluster:
    """Server processes sharing one data folder and one Redis."""

    def __init__(self, redis: RedisServer, rig_dir: Path, tmp_path: Path) -> None:
        self.redis, self.rig_dir, self.tmp_path = redis, rig_dir, tmp_path
        self.servers: list[ServerProcess] = []

    def start(self, count: int, **env: str) -> list[ServerProcess]:
        started = []
        for _ in range(count):
            i = len(self.servers)
            log = self.tmp_path / f"server-{i}.log"
            server = ServerProcess(self.tmp_path / "data", log, self.rig_dir, REDIS_URL=self.redis.url, **env)
            self.servers.append(server)
            server.start()
            started.append(server)
        return started

    def process_id(self, server: ServerProcess) -> str:
        return str(httpx.get(server.base_url + "/health", timeout=10).json()["redis"]["process"])

    def runners_of(self, channel: str) -> list[ServerProcess]:
        """The processes that say they run ``channel`` now (two for a moment while one hands over)."""
        return [
            server
            for server in self.servers
            if server.proc is not None
            and channel in httpx.get(server.base_url + "/health", timeout=10).json()["redis"]["runs"]
        ]

    def runner_of(self, channel: str) -> ServerProcess:
        """The process running ``channel`` now."""
        runners = self.runners_of(channel)
        if not runners:
            raise AssertionError(f"no process runs {channel!r}")
        return runners[0]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def cluster(redis_server: RedisServer, rig_dir: Path, tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(redis_server, rig_dir, tmp_path)
    yield running
    running.stop()
