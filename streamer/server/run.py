"""The uvicorn configuration every way of running the app shares: the CLI, tests, benchmarks (I/O)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette

from streamer.settings import Settings

WS_MAX_MESSAGE_BYTES = 65536


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
