"""The uvicorn configuration every way of running the app shares: the CLI, tests, benchmarks (I/O)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from streamer.settings import Settings

WS_MAX_MESSAGE_BYTES = 65536

log = logging.getLogger(__name__)


def worker_app(settings: Settings, log_level: str) -> Starlette:
    """The app of one process of ``streamer serve --workers N`` (uvicorn calls it in each process)."""
    from streamer.server.app import create_app

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("streamer").setLevel(log_level.upper())
    return create_app(settings)


def uvicorn_config(app: Starlette | Callable[[], Starlette], settings: Settings, **overrides: Any) -> uvicorn.Config:
    """A :class:`uvicorn.Config` for ``app`` (or its factory, with ``factory=True``); ``overrides`` are passed on.

    A viewer that stops reading is found by the WebSocket keepalive: a ping every half of
    ``viewer_deadline_ms`` that must be answered within the other half. Its pong comes back
    only after everything sent before it was read, so this bounds how far behind any viewer
    can fall, however much the kernel's socket buffers would absorb (they hide megabytes).
    """
    half_s = settings.viewer_deadline_ms / 2000
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "lifespan": "on",
        "ws_max_size": WS_MAX_MESSAGE_BYTES,
        # Compression would be per connection: it defeats encoding each message once per
        # channel and costs more CPU than the bandwidth it saves on small JSON batches.
        "ws_per_message_deflate": False,
        # Named rather than "auto": broadcasts are written straight to this protocol's transport
        # (server/fanout.py, direct_connection).
        "ws": "websockets-sansio",
        "ws_ping_interval": half_s,
        "ws_ping_timeout": half_s,
        "timeout_graceful_shutdown": 10,
        "server_header": False,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


class ReusePortSupervisor(Multiprocess):
    """uvicorn's worker supervisor, each worker accepting on a socket of its own (``SO_REUSEPORT``).

    uvicorn's gives every worker the one socket, and whichever process wakes first accepts: with
    1,000 viewers connecting to two workers the split was 409 and 592, and the busier process
    sets the time to a broadcast's last viewer. With a socket each, bound with ``SO_REUSEPORT``,
    the kernel spreads connections over the workers by a hash of their addresses (evenly, for
    many). The parent keeps the sockets open, so connections queued on the socket of a worker
    that died wait for its replacement, which gets the same socket. The number of workers is
    fixed (``SIGTTIN``/``SIGTTOU`` are ignored): a socket without a worker would hold its share
    of connections unanswered. The worker-management logic is uvicorn's, worker by worker.
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.processes_num = len(sockets)

    def _spawn(self, index: int) -> Process:
        process = Process(self.config, [self.sockets[index]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._spawn(index) for index in range(self.processes_num)]

    def restart_all(self) -> None:
        """SIGHUP: replace each worker, its replacement serving before the old one stops (as uvicorn)."""
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._spawn(index)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                log.error("worker %s was not ready in time; keeping %s and stopping the restart", new.pid, old.pid)
                return
            old.terminate()
            old.join()
            self.processes[index] = new

    def keep_subprocess_alive(self) -> None:
        for index, process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: kill it
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: it would fail again
                log.error("worker %s failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            log.warning("worker %s died (exit code %s); starting another", process.pid, process.exitcode)
            self.processes[index] = self._spawn(index)

    def handle_ttin(self) -> None:
        log.warning("SIGTTIN ignored: the number of workers is fixed (--workers)")

    def handle_ttou(self) -> None:
        log.warning("SIGTTOU ignored: the number of workers is fixed (--workers)")
