"""``streamer serve --workers N``: a listening socket per worker (``SO_REUSEPORT``), kept across a worker's death."""

from __future__ import annotations

import os
import signal
import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest

from streamer.cli.serve import _listen
from streamer.core.errors import StreamerError
from tests.reliability.conftest import ServerProcess
from tests.scale.conftest import Cluster


def answering_process(server: ServerProcess) -> str:
    """The worker that answers a new connection (``host:pid``); waits while a replacement starts."""
    return str(httpx.get(server.base_url + "/metrics.json", timeout=30).json()["process"])


def listening_sockets(pid: int, port: int) -> set[int]:
    """Inodes of the sockets listening on loopback ``port`` that process ``pid`` holds."""
    listening = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":  # 127.0.0.1:port, LISTEN
            listening.add(int(fields[9]))
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            held.add(int(target[8:-1]))
    return held & listening


def test_listen_binds_a_socket_per_worker_and_refuses_a_port_already_shared() -> None:
    sockets = _listen("127.0.0.1", 0, 3)
    try:
        port = sockets[0].getsockname()[1]
        assert [s.getsockname()[1] for s in sockets] == [port] * 3
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in sockets)
        for s in sockets:
            s.listen()
        # Another `serve --workers` on the same port would join the group without a word: refused.
        with pytest.raises(StreamerError, match=f"port {port} on 127.0.0.1 is already in use"):
            _listen("127.0.0.1", port, 2)
        with pytest.raises(StreamerError, match="already in use"):
            _listen("127.0.0.1", port, 1)
    finally:
        for s in sockets:
            s.close()


async def test_connections_are_spread_over_the_workers_and_a_dead_workers_share_waits_for_its_replacement(
    cluster: Cluster,
) -> None:
    (server,) = cluster.start(1, STREAMER_WORKERS="2")
    # The kernel hashes each new connection to one worker's socket: an even spread, whichever is busier.
    counts = Counter(answering_process(server) for _ in range(200))
    assert len(counts) == 2 and min(counts.values()) >= 60, counts
    # Each worker accepts on its own socket (one shared socket goes to whichever process wakes first).
    held = [listening_sockets(int(process.rpartition(":")[2]), server.port) for process in counts]
    assert [len(inodes) for inodes in held] == [1, 1] and held[0] != held[1]
    victim = min(counts)
    os.kill(int(victim.rpartition(":")[2]), signal.SIGKILL)
    # Connections hashed to the dead worker's socket wait in its queue for the worker that replaces it,
    # which listens on the same socket: none is refused or lost.
    answered = Counter(answering_process(server) for _ in range(60))
    assert victim not in answered and len(answered) == 2, answered
    replacement = next(process for process in answered if process not in counts)
    assert listening_sockets(int(replacement.rpartition(":")[2]), server.port) == held[list(counts).index(victim)]
    assert "died" in server.log()
