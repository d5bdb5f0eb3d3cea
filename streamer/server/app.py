"""The Starlette app: wires routes, middleware, error handlers and the lifespan (I/O).

The lifespan is the composition root: it opens the services (:func:`streamer.services.open_services`:
the frames, the timeline and audio stores), starts the channel service, the speech and
heavy-work pools and the export jobs on top of them, and puts them on ``app.state.server`` as
one typed :class:`~streamer.server.state.ServerState` (handlers reach it with
:func:`~streamer.server.state.state`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from streamer.core.errors import StreamerError
from streamer.core.rig import Rig
from streamer.export.jobs import ExportJobs
from streamer.export.manager import ExportManager, LocalExports
from streamer.server.captions import caption_routes
from streamer.server.channels import ChannelService
from streamer.server.errors import http_status
from streamer.server.exports import export_routes
from streamer.server.fanout import RawSocketMiddleware
from streamer.server.http import http_routes
from streamer.server.limits import HeavyWork
from streamer.server.live import live_routes
from streamer.server.metrics import LocalBoard, MetricsBoard, ProcessFigures, RedisBoard, metrics_routes
from streamer.server.reference import allowed_methods, reference_routes
from streamer.server.rigs import rig_routes
from streamer.server.security import install_log_redaction
from streamer.server.speech import SpeechWorkers, speech_routes
from streamer.server.state import ServerState
from streamer.services import Services, open_services
from streamer.settings import Settings
from streamer.speech.errors import ProviderError

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("streamer.server")

# Seconds a client should wait before asking again for a frame the store could not give.
RETRY_AFTER_S = 2
BUSY_RETRY_AFTER_S = 1  # ... and after a 429
# Methods whose rejected requests close the connection: the body may be unread.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# WebSocket close codes for errors that escape a WebSocket endpoint before it handles them.
WS_CLOSE_SERVER_ERROR = 1011


def _rejected(conn: HTTPConnection, status: int, message: str) -> None:
    # Path only: the query string may carry the token.
    log.info("rejected %s %s: %d %s", conn.scope.get("method", "WS"), conn.url.path, status, message)


def _close_if_body_unread(conn: HTTPConnection, headers: dict[str, str]) -> None:
    # An error may come before the body is read: close rather than let the server drain an
    # unwanted upload after answering (uvicorn reads the rest of a kept-alive request).
    if conn.scope.get("method") in BODY_METHODS:
        headers["Connection"] = "close"


async def handle_streamer_error(conn: HTTPConnection, exc: Exception) -> Response | None:
    status = http_status(exc)
    # Messages may quote the request: make them valid UTF-8 whatever it held.
    message = (str(exc) or type(exc).__name__).encode("utf-8", "backslashreplace").decode("utf-8")
    body: dict[str, Any] = {"error": message}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if isinstance(exc, ProviderError):  # an external service failed: 502, 504 timeout, 503 rate limited
        body["provider"] = exc.provider
        if exc.reason == "rate_limited":
            headers["Retry-After"] = str(max(1, round(exc.retry_after_s or 5)))
    elif status >= 500:
        log.error("%s %s failed: %s", conn.scope.get("method", "WS"), conn.url.path, message)
    _rejected(conn, status, message)
    if isinstance(conn, WebSocket):
        await conn.close(WS_CLOSE_SERVER_ERROR)
        return None
    _close_if_body_unread(conn, headers)
    if status == 503:
        headers.setdefault("Retry-After", str(RETRY_AFTER_S))
    if status == 429:  # too busy: say when to come back
        headers.setdefault("Retry-After", str(getattr(exc, "retry_after_s", BUSY_RETRY_AFTER_S)))
    return JSONResponse(body, status_code=status, headers=headers)


async def handle_http_exception(conn: HTTPConnection, exc: Exception) -> Response | None:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        message = f"not found: {conn.url.path[:200]}"
    elif exc.status_code == 405:
        # Every route of the path, not only the first that matched (GET and POST /timelines are two routes).
        headers["Allow"] = allowed = allowed_methods(conn.scope)
        message = f"method {conn.scope.get('method')} is not allowed on {conn.url.path[:200]}"
        message += f" (allowed: {allowed}; see /openapi.json)"
    else:
        message = str(exc.detail)
    _rejected(conn, exc.status_code, message)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    _close_if_body_unread(conn, headers)
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=headers)


async def handle_server_error(conn: HTTPConnection, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", conn.scope.get("method", "WS"), conn.url.path, exc_info=exc)
    headers: dict[str, str] = {}
    _close_if_body_unread(conn, headers)
    return JSONResponse({"error": "internal server error"}, status_code=500, headers=headers)


class SecurityHeadersMiddleware:
    """Adds conservative headers to every HTTP response (pure ASGI, so streaming is untouched)."""

    HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ClientFiles(StaticFiles):
    """The browser client's files; a missing folder answers 404 instead of failing the request."""

    async def check_config(self) -> None:
        if self.directory is not None and not os.path.isdir(self.directory):
            raise HTTPException(404)
        await super().check_config()


async def _start_server(services: Services, stack: contextlib.AsyncExitStack) -> ServerState:
    """Start what only the server runs on top of ``services``; ``stack`` stops it, last started first."""
    settings, frames = services.settings, services.frames
    speech = SpeechWorkers()
    stack.callback(speech.close)
    redis = _redis_pool(settings)  # None: this process holds every channel
    if redis is not None:
        stack.push_async_callback(redis.aclose)
    channels = _channel_service(
        redis,
        rigs=frames.rigs,
        settings=settings,
        timelines=services.timelines,
        audio=services.audio,
        audio_url=lambda audio_id: "/audio/" + audio_id,
        # Viewers fetch from this server only in "server" mode: warm the cache for them there.
        prefetch=frames.prefetch if settings.prefetch and settings.url_mode == "server" else None,
        speech=speech,
    )
    await channels.start()
    stack.push_async_callback(channels.close)
    heavy = HeavyWork(settings.heavy_concurrency, {k: r.rig for k, r in frames.rigs.items()})
    stack.callback(heavy.close)
    exports: ExportManager
    if settings.redis_url:  # on the Redis queue, for `streamer worker` processes (docs/scaling.md)
        from streamer.export.queue import QueueJobs

        exports = QueueJobs(settings, services.export_files)
    else:
        exports = LocalExports(
            ExportJobs(
                settings.data_dir / "exports",
                workers=settings.export_workers,
                max_queued=settings.export_max_queued,
                ttl_s=settings.export_ttl_s,
                max_duration_ms=settings.export_max_s * 1000,
                webhook_hosts=settings.export_webhook_hosts,
                files=services.export_files,
            )
        )
    await exports.start()
    stack.push_async_callback(exports.close)
    figures = ProcessFigures(channels, frames.cache)
    metrics: MetricsBoard = LocalBoard(figures) if redis is None else RedisBoard(redis, figures)
    await metrics.start()
    stack.push_async_callback(metrics.close)
    return ServerState(services, channels, speech, heavy, exports, metrics)


def _log_serving(server: ServerState) -> None:
    frames, rig = server.services.frames, server.rig
    data = server.services.data
    log.info(
        "serving rig %r from %s (%d frames); data in %s",
        rig.config.name,
        frames.location,
        len(rig.file_sizes),
        server.settings.data_dir if data is None else f"{data.url} (cached in {server.settings.data_dir})",
    )
    for served in list(server.rigs.values())[1:]:
        log.info("also serving rig %r (%s) from %s", served.id, served.rig.config.name, served.location)


def _redis_pool(settings: Settings) -> Redis | None:
    """This process's Redis connection pool, when ``REDIS_URL`` is set (docs/scaling.md)."""
    if settings.redis_url is None:
        return None
    from redis.asyncio import Redis  # only with REDIS_URL: one process needs no Redis installed

    return Redis.from_url(settings.redis_url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5)


def _channel_service(redis: Redis | None, **kwargs: Any) -> ChannelService:
    if redis is None:
        return ChannelService(**kwargs)
    from streamer.server.shared import SharedChannelService

    return SharedChannelService(redis=redis, **kwargs)


def create_app(settings: Settings, rig: Rig | None = None) -> Starlette:
    """The application for ``settings``; pass an already loaded ``rig`` to skip loading it again."""
    install_log_redaction(settings.token)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            services = await stack.enter_async_context(open_services(settings, rig))
            server = await _start_server(services, stack)
            app.state.server = server
            _log_serving(server)
            yield

    if not settings.client_dir.is_dir():
        log.warning("no client folder at %s: /client will answer 404", settings.client_dir)
    routes = [
        *http_routes(),
        *metrics_routes(),
        *live_routes(),
        *export_routes(),
        *speech_routes(),
        *caption_routes(),
        *reference_routes(),
        *rig_routes(),
        Mount("/client", app=ClientFiles(directory=settings.client_dir, check_dir=False), name="client"),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Range", "If-None-Match", "If-Match"],
            expose_headers=["ETag", "Content-Length", "Content-Range", "Accept-Ranges", "Location"],
            max_age=600,
        ),
        Middleware(SecurityHeadersMiddleware),
        Middleware(RawSocketMiddleware),  # after those above, which pass a WebSocket's send on untouched
    ]
    handlers: dict[Any, Any] = {StreamerError: handle_streamer_error}
    handlers[HTTPException] = handle_http_exception
    handlers[Exception] = handle_server_error
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan)
    app.state.settings = settings
    return app
