"""Live endpoints (I/O): the WebSocket and the REST routes of channels, thin over the channel service.

Connections are checked here (origin, role, token, channel name, message rate) and their
messages parsed; commands go to :class:`~streamer.server.channels.ChannelService`, and what a
channel says reaches its viewers through the service's :class:`~streamer.server.fanout.Fanout`.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from streamer.core.commands import COMMANDS
from streamer.core.errors import (
    CommandError,
    NotFound,
    StreamerError,
)
from streamer.core.program import Message
from streamer.core.timeline import loads
from streamer.server.channels import ChannelService, check_channel_name
from streamer.server.errors import BodyError, ChannelLimit, ws_code
from streamer.server.exports import watch_export
from streamer.server.fanout import (
    CLOSE_BAD_CHANNEL,
    CLOSE_FLOOD,
    CLOSE_POLICY,
    CLOSE_UNAUTHORIZED,
    Viewer,
    encode,
)
from streamer.server.http import authorize_write, read_json
from streamer.server.livechannel import error_message
from streamer.server.security import (
    origin_allowed,
    presented_token,
    token_matches,
    token_ok,
    write_origin_allowed,
)
from streamer.server.state import state
from streamer.settings import Settings
from streamer.storage import PayloadTooLarge

log = logging.getLogger(__name__)

RATE_PER_S, RATE_BURST = 20.0, 40.0
MAX_WATCHES = 8  # export jobs one controller may watch at once
# A controller that connects without a token (when one is needed) must send ``auth`` this soon.
AUTH_TIMEOUT_S = 5.0
MAX_SAY_BYTES = 1024 * 1024  # a text/plain say body, however long it streams


class _Bucket:
    """Token bucket: ``RATE_PER_S`` messages a second with bursts of ``RATE_BURST``."""

    def __init__(self) -> None:
        self.tokens, self.at = RATE_BURST, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(RATE_BURST, self.tokens + (now - self.at) * RATE_PER_S)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


async def _refuse(ws: WebSocket, code: int, reason: str, *, accepted: bool = False) -> None:
    """Accept, then close with ``code``: browsers only see close codes on accepted sockets."""
    log.warning("websocket refused (%d): %s", code, reason)
    if not accepted:
        await ws.accept()
    await ws.close(code, reason=reason[:120])


async def _receive_text(ws: WebSocket) -> str | None:
    """The next text message; None for a binary one. Raises WebSocketDisconnect at the end."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    return text if isinstance(text, str) else None


async def _authenticate(ws: WebSocket, settings: Settings) -> bool:
    """Wait for a controller's first message, ``{"type": "auth", "token": ...}``, and check it.

    Pages send the token this way rather than in the URL, where proxies and logs keep it.
    """
    try:
        text = await asyncio.wait_for(_receive_text(ws), AUTH_TIMEOUT_S)
        message = loads(text) if text is not None else None
    except (TimeoutError, StreamerError):
        return False
    if not isinstance(message, dict) or message.get("type") != "auth" or not isinstance(message.get("token"), str):
        return False
    return token_matches(message["token"], settings)


async def ws_endpoint(ws: WebSocket) -> None:
    service: ChannelService = state(ws).channels
    settings = service.settings
    if not origin_allowed(ws.headers, settings):
        await _refuse(ws, CLOSE_POLICY, f"origin {ws.headers.get('origin', '')[:80]!r} is not allowed")
        return
    role = ws.query_params.get("role", "viewer")
    if role not in ("viewer", "controller"):
        await _refuse(ws, CLOSE_POLICY, f"unknown role {role[:40]!r} (viewer or controller)")
        return
    if role == "controller" and not write_origin_allowed(ws.headers, settings):
        origin = ws.headers.get("origin", "")[:80]
        await _refuse(ws, CLOSE_POLICY, f"origin {origin!r} may not control channels (see CORS_ORIGINS)")
        return
    # A token in the URL or a header is checked now; without one, the first message must carry it.
    deferred_auth = role == "controller" and settings.token is not None and presented_token(ws) is None
    if role == "controller" and not deferred_auth and not token_ok(ws, settings):
        await _refuse(ws, CLOSE_UNAUTHORIZED, "controller without a valid token")
        return
    name = ws.query_params.get("channel", "main")
    try:
        check_channel_name(name)
    except ChannelLimit as exc:
        await _refuse(ws, CLOSE_BAD_CHANNEL, str(exc))
        return
    await ws.accept()
    if deferred_auth and not await _authenticate(ws, settings):
        reason = "controller without a valid token (send {type: auth, token} first)"
        await _refuse(ws, CLOSE_UNAUTHORIZED, reason, accepted=True)
        return
    viewer = Viewer(ws, role, settings.viewer_queue)
    try:
        await service.connect(name, viewer)
    except ChannelLimit as exc:
        await _refuse(ws, CLOSE_BAD_CHANNEL, str(exc), accepted=True)
        return
    try:
        await _read_loop(ws, service, viewer)
    except WebSocketDisconnect:
        pass
    finally:
        service.remove_viewer(viewer)
        viewer.close(viewer.close_code)
        await viewer.finished(timeout=3)


async def _read_loop(ws: WebSocket, service: ChannelService, viewer: Viewer) -> None:
    bucket = _Bucket()
    while not viewer.closing:
        text = await _receive_text(ws)
        if not bucket.take():
            log.warning("channel %s: closing a flooding connection (4029)", viewer.channel or viewer.waiting_for)
            viewer.close(CLOSE_FLOOD)
            return
        if text is None:
            reply: Message | None = error_message("bad_message", "binary messages are not supported: send JSON text")
        else:
            reply = await _handle(text, service, viewer)
        if reply is not None:
            viewer.push(encode(reply))


async def _handle(text: str, service: ChannelService, viewer: Viewer) -> Message | None:
    try:
        message = loads(text)
    except StreamerError as exc:
        return error_message("bad_json", f"message is not valid JSON: {exc}")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return error_message("bad_message", "message must be a JSON object with a string 'type'")
    kind, msg_id = message["type"], message.get("id")
    if kind == "ping":
        rtt = message.get("rtt_ms")
        if isinstance(rtt, int | float) and not isinstance(rtt, bool) and 0 <= rtt <= 60_000:
            viewer.rtt_ms = int(rtt)
        now = service.now_ms()
        return {"type": "pong", "id": msg_id, "client_time": message.get("client_time"), "server_time_ms": now}
    if kind == "auth":  # already checked at connect; a page may send it to any server
        return {"type": "ack", "id": msg_id, "ok": True, "result": {"role": viewer.role}}
    if kind == "watch_export":
        return await _watch_export(viewer, message, msg_id)
    if kind not in COMMANDS:
        return error_message("unknown_type", f"unknown message type {kind[:40]!r}", msg_id)
    if viewer.role != "controller":
        return error_message("forbidden", f"{kind!r} needs role=controller (and the control token)", msg_id)
    name = viewer.channel or viewer.waiting_for or "main"
    try:
        result = await service.command(name, kind, message)
    except StreamerError as exc:
        code = ws_code(exc)
        log.info("channel %s: %s rejected: %s", name, kind, exc)
        return error_message(code, str(exc), msg_id)
    return {"type": "ack", "id": msg_id, "ok": True, "result": result}


async def _watch_export(viewer: Viewer, message: dict[str, Any], msg_id: Any) -> Message:
    """Start pushing an export job's progress to this controller (after the ack this returns)."""
    if viewer.role != "controller":
        return error_message("forbidden", "'watch_export' needs role=controller (and the control token)", msg_id)
    export_id = message.get("export_id")
    if not isinstance(export_id, str):
        return error_message("bad_message", "watch_export: export_id must be a string", msg_id)
    jobs = state(viewer.ws).exports
    try:
        job = await jobs.get(export_id)
    except NotFound as exc:
        return error_message("not_found", str(exc), msg_id)
    if job.id not in viewer.watches:
        if len(viewer.watches) >= MAX_WATCHES:
            return error_message("bad_message", f"watch_export: at most {MAX_WATCHES} exports watched at once", msg_id)
        task = asyncio.ensure_future(watch_export(jobs, job.id, lambda m: viewer.push(encode(m))))
        viewer.watches[job.id] = task
        task.add_done_callback(lambda _t: viewer.watches.pop(job.id, None))
    return {"type": "ack", "id": msg_id, "ok": True, "result": {"export": job.to_json()}}


async def _rest_command(request: Request) -> JSONResponse:
    authorize_write(request)
    service: ChannelService = state(request).channels
    name, command = request.path_params["name"], request.path_params["command"]
    if command not in COMMANDS:
        raise NotFound(f"unknown command {command[:40]!r} ({', '.join(COMMANDS)})")
    if command == "say" and request.headers.get("content-type", "").startswith("text/plain"):
        return JSONResponse(await _say_as_it_arrives(request, service, name))
    body = await read_json(request, allow_empty=True)
    if body is None:
        body = {}
    if not isinstance(body, dict):  # the fields are the command's to check
        raise BodyError("request body: must be a JSON object")
    return JSONResponse(await service.command(name, command, body))


async def _say_as_it_arrives(request: Request, service: ChannelService, name: str) -> dict[str, Any]:
    """``POST /channels/{name}/say`` with a (chunked) ``text/plain`` body: each piece is said as it arrives.

    The voice options and the stream id come from the query string.
    """
    options: dict[str, Any] = dict(request.query_params)
    for field in ("rate_wpm", "pitch"):
        if field in options:
            try:
                options[field] = int(options[field])
            except ValueError:
                raise CommandError(f"{field}: must be an integer, got {options[field][:40]!r}") from None
    decoder = codecs.getincrementaldecoder("utf-8")()
    result: dict[str, Any] = {}
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > MAX_SAY_BYTES:
                raise PayloadTooLarge(f"request body is over the limit of {MAX_SAY_BYTES} bytes")
            text = decoder.decode(chunk)
            if text:
                result = await service.command(name, "say", {**options, "text": text, "final": False})
                options["stream"] = result["stream"]
        return await service.command(name, "say", {**options, "text": decoder.decode(b"", final=True), "final": True})
    except UnicodeDecodeError:
        raise BodyError("request body: must be UTF-8 text") from None


async def _rest_describe(request: Request) -> JSONResponse:
    service: ChannelService = state(request).channels
    return JSONResponse(await service.describe(request.path_params["name"]))


def live_routes() -> list[BaseRoute]:
    return [
        WebSocketRoute("/ws", ws_endpoint),
        Route("/channels/{name}", _rest_describe, methods=["GET"]),
        Route("/channels/{name}/{command}", _rest_command, methods=["POST"]),
    ]
