"""REST routes: health, rig, frames, timelines and audio (I/O at the HTTP edge).

Handlers stay thin: they read the request, call a store or the core, and shape JSON. Errors
are raised as :class:`StreamerError` subclasses and turned into responses in one place
(``streamer.server.app``). Writes need the control token when one is configured.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Collection
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

import streamer
from streamer.core.errors import NotFound, StreamerError, TimelineError
from streamer.core.keys import validate_key
from streamer.core.rig import Rig
from streamer.core.schedule import as_fps
from streamer.core.timeline import loads
from streamer.frames import FRAME_CACHE_CONTROL
from streamer.rigset import pick
from streamer.server.errors import BodyError, EmptyBody, UnsupportedMediaType
from streamer.server.limits import document_schedule_bytes, schedule_bytes, validate_timeline_bytes
from streamer.server.security import check_write_origin, require_token
from streamer.server.state import state
from streamer.settings import Settings
from streamer.storage import (
    AudioError,
    PayloadTooLarge,
    validate_timeline_id,
    version_of,
)

MAX_JSON_BYTES = 5 * 1024 * 1024


MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file
AUDIO_CACHE_CONTROL = "public, max-age=3600"


def authorize_write(request: Request) -> None:
    """Reject a write from a foreign origin or without the token (when one is set)."""
    settings = state(request).settings
    check_write_origin(request.headers, settings)
    require_token(request, settings)


# -- request bodies ------------------------------------------------------------------------


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise StreamerError(f"invalid Content-Length {raw[:40]!r}")
    return int(raw)


def _check_length(request: Request, limit: int) -> None:
    length = _content_length(request)
    if length is not None and length > limit:
        raise PayloadTooLarge(f"request body of {length} bytes is over the limit of {limit} bytes")


async def capped(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    """``stream``, raising :class:`PayloadTooLarge` as soon as more than ``limit`` bytes pass."""
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        yield chunk


def _require_json_type(request: Request) -> None:
    """JSON bodies must say so: a browser's "no-cors" form post cannot send this type."""
    raw = request.headers.get("content-type", "")
    media = raw.partition(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        shown = repr(raw[:80]) if raw else "none"
        raise UnsupportedMediaType(
            f"request body: send it with Content-Type: application/json (got {shown}; with curl use --json)"
        )


async def read_json_bytes(request: Request, limit: int = MAX_JSON_BYTES) -> bytes:
    """The raw body of a JSON request: size capped, ``Content-Type`` checked (415), not empty."""
    _check_length(request, limit)
    if _content_length(request) != 0:  # refused before reading: the body is not wanted
        _require_json_type(request)
    body = bytearray()
    async for chunk in capped(request.stream(), limit):
        body += chunk
    if not body.strip():
        raise EmptyBody("request body: empty (send a JSON document)")
    _require_json_type(request)  # a chunked body announced no length
    return bytes(body)


async def read_json(request: Request, limit: int = MAX_JSON_BYTES, *, allow_empty: bool = False) -> Any:
    """The JSON body, read as :func:`read_json_bytes` does; raises :class:`BodyError` for bad JSON.

    With ``allow_empty`` an empty body of any type gives None.
    """
    try:
        body = await read_json_bytes(request, limit)
    except EmptyBody:
        if allow_empty:
            return None
        raise
    try:
        if len(body) < 64 * 1024:
            return loads(body)
        return await asyncio.to_thread(loads, body)
    except TimelineError as exc:  # not JSON: the body's fault on every route, whatever it carries
        raise BodyError(str(exc)) from None


def body_object(body: Any, allowed: Collection[str], shape: str = "") -> dict[str, Any]:
    """``body`` if it is a JSON object of ``allowed`` fields; raises :class:`BodyError` otherwise.

    ``shape`` describes the object in the message (``{words, text?}``).
    """
    if not isinstance(body, dict):
        raise BodyError(f"request body: must be a JSON object{' ' + shape if shape else ''}")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BodyError(f"{str(unknown[0])[:40]}: unknown field (known: {', '.join(allowed)})")
    return body


# -- service -------------------------------------------------------------------------------


async def root(request: Request) -> Response:
    return RedirectResponse("/client/preview.html")


def _store_stats(request: Request) -> Any:
    """The frame cache's counters (hits, misses, store_gets, bytes, evictions, errors, ...)."""
    return state(request).store.stats()


async def health(request: Request) -> Response:
    channels = state(request).channels
    body = {
        "status": "ok",
        "version": streamer.__version__,
        "rig": state(request).rig.config.name,
        "channels": len(channels.channels),
        "frames": _store_stats(request),
    }
    redis = await channels.health()  # with REDIS_URL (docs/scaling.md)
    if redis is not None:
        body["redis"] = redis
    export_queue = await state(request).exports.health()  # with REDIS_URL: its depth and the workers alive
    if export_queue is not None:
        body["export_queue"] = export_queue
    return JSONResponse(body)


def _data_dir_writable(settings: Settings) -> bool:
    try:
        with tempfile.TemporaryFile(dir=settings.data_dir):
            return True
    except OSError:
        return False


async def ready(request: Request) -> Response:
    settings = state(request).settings
    problems = []
    if getattr(request.app.state, "server", None) is None:
        problems.append("rig not loaded")
    if not await asyncio.to_thread(_data_dir_writable, settings):
        problems.append(f"data folder {str(settings.data_dir)!r} is not writable")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


def rig_json(rig: Rig) -> dict[str, Any]:
    """The rig as clients need it: names, axes, sequences (no file listing)."""
    cfg = rig.config
    return {
        "name": cfg.name,
        "size": list(cfg.size) if cfg.size else None,
        "axes": {axis: list(values) for axis, values in cfg.axes.items()},
        "poses": list(cfg.poses),
        "expressions": {name: dict(values) for name, values in cfg.expressions.items()},
        "visemes": dict(cfg.visemes),
        "sequences": [
            {
                "id": seq.id,
                "start": {"expr": seq.start.expr, "pose": seq.start.pose},
                "end": {"expr": seq.end.expr, "pose": seq.end.pose},
                "frames": len(seq.frames),
            }
            for seq in rig.sequences.values()
        ],
        "endpoints": len(rig.endpoints),
    }


async def rig_info(request: Request) -> Response:
    return JSONResponse(rig_json(state(request).rig))


# -- frames --------------------------------------------------------------------------------


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison against a list of tags, or ``*``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))


async def frame(request: Request) -> Response:
    key = validate_key(request.path_params["key"])
    if not key.endswith(".png"):
        raise NotFound(f"no frame {key!r}")
    data = await state(request).store.get(key)
    headers = {"ETag": data.etag, "Cache-Control": FRAME_CACHE_CONTROL}
    if etag_matches(request.headers.get("if-none-match"), data.etag):
        return Response(status_code=304, headers=headers)
    return Response(data.data, media_type="image/png", headers=headers)


# -- timelines -----------------------------------------------------------------------------


async def list_timelines(request: Request) -> Response:
    return JSONResponse(await asyncio.to_thread(state(request).timelines.list))


async def create_timeline(request: Request) -> Response:
    authorize_write(request)
    requested, name = request.query_params.get("id"), request.query_params.get("name")
    if requested is not None:
        validate_timeline_id(requested)
    rig = _rig_param(request)
    document = await read_json(request)
    store = state(request).timelines
    timeline_id = await asyncio.to_thread(store.create, document, requested, name, rig)
    body = {"id": timeline_id, "name": store.name_of(timeline_id) or timeline_id}
    return JSONResponse(body, status_code=201, headers={"Location": f"/timelines/{timeline_id}"})


def _rig_param(request: Request) -> Rig | None:
    """The rig ``?rig=`` names (400 if unknown), or None for the default rig."""
    rig_id = request.query_params.get("rig")
    return None if rig_id is None else pick(state(request).rigs, rig_id).rig


async def validate_timeline(request: Request) -> Response:
    work = state(request).heavy
    async with work.slot("timeline validation"):  # before reading: a refused body is never read
        raw = await read_json_bytes(request)
        source, duration_ms, audio_id = await work.run(validate_timeline_bytes, raw)
    await asyncio.to_thread(state(request).timelines.check_audio, audio_id)  # a request to S3 with STREAMER_DATA_URL
    return JSONResponse({"ok": True, "source": source, "duration_ms": duration_ms})


async def get_timeline(request: Request) -> Response:
    raw = await asyncio.to_thread(state(request).timelines.read_bytes, request.path_params["id"])
    # The ETag is the stored version: send it back in If-Match to refuse overwriting a newer save.
    return JSONResponse(loads(raw), headers={"ETag": version_of(raw), "Cache-Control": "no-cache"})


async def put_timeline(request: Request) -> Response:
    authorize_write(request)
    timeline_id = validate_timeline_id(request.path_params["id"])
    rig = _rig_param(request)
    document, store = await read_json(request), state(request).timelines
    name, if_match = request.query_params.get("name"), request.headers.get("if-match")
    timeline, created, version = await asyncio.to_thread(store.put, timeline_id, document, name, rig, if_match)
    name = store.name_of(timeline_id) or timeline_id
    body = {"id": timeline_id, "name": name, "duration_ms": timeline.duration_ms, "created": created}
    return JSONResponse(body, headers={"ETag": version})


async def delete_timeline(request: Request) -> Response:
    authorize_write(request)
    await asyncio.to_thread(state(request).timelines.delete, request.path_params["id"])
    return Response(status_code=204)


async def timeline_schedule(request: Request) -> Response:
    raw_fps = request.query_params.get("fps")
    fps = as_fps(raw_fps) if raw_fps is not None else None
    timeline_id, work = request.path_params["id"], state(request).heavy
    rig_id = request.query_params.get("rig")
    pick(work.rigs, rig_id)  # 400 for an unknown rig, before any work
    async with work.slot("schedule"):
        raw = await asyncio.to_thread(state(request).timelines.read_bytes, timeline_id)
        body = await work.run(schedule_bytes, raw, fps, timeline_id, rig_id)  # up to tens of MB at 60 fps
    return Response(body, media_type="application/json")


async def draft_schedule(request: Request) -> Response:
    raw_fps = request.query_params.get("fps")
    fps = as_fps(raw_fps) if raw_fps is not None else None
    work, rig_id = state(request).heavy, request.query_params.get("rig")
    pick(work.rigs, rig_id)  # 400 for an unknown rig, before any work
    async with work.slot("schedule"):  # before reading: a refused body is never read
        raw = await read_json_bytes(request)
        body = await work.run(document_schedule_bytes, raw, fps, rig_id)
    return Response(body, media_type="application/json")


# -- audio ---------------------------------------------------------------------------------


async def _upload_chunks(upload: UploadFile, size: int = 256 * 1024) -> AsyncGenerator[bytes, None]:
    while chunk := await upload.read(size):
        yield chunk


async def upload_audio(request: Request) -> Response:
    authorize_write(request)
    server = state(request)
    settings, store = server.settings, server.audio
    limit = settings.max_upload_bytes
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        _check_length(request, limit + MULTIPART_OVERHEAD)
        parser = MultiPartParser(
            request.headers, capped(request.stream(), limit + MULTIPART_OVERHEAD), max_files=1, max_fields=8
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise AudioError(f"invalid multipart body: {exc.message}") from None
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise AudioError("multipart upload needs the audio in a 'file' field")
            info = await store.save_stream(_upload_chunks(upload), upload.filename, limit)
        finally:
            await form.close()
    else:
        _check_length(request, limit)
        filename = request.query_params.get("filename")
        info = await store.save_stream(request.stream(), filename, limit)
    return JSONResponse(info.to_json(), status_code=201, headers={"Location": f"/audio/{info.id}"})


async def get_audio(request: Request) -> Response:
    info = await asyncio.to_thread(state(request).audio.info, request.path_params["id"])
    stat = await asyncio.to_thread(os.stat, info.path)
    return FileResponse(
        info.path,
        media_type=info.content_type,
        stat_result=stat,
        headers={"Cache-Control": AUDIO_CACHE_CONTROL},
    )


async def director(request: Request) -> Response:
    """The Director page, keeping the query (``?timeline=ID``)."""
    query = request.url.query
    return RedirectResponse("/client/director.html" + ("?" + query if query else ""))


def http_routes() -> list[BaseRoute]:
    """The REST routes (the static client mount and the live routes are added by the app)."""
    return [
        Route("/", root, methods=["GET"]),
        Route("/director", director, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/rig", rig_info, methods=["GET"]),
        Route("/frames/{key:path}", frame, methods=["GET"]),
        Route("/timelines", list_timelines, methods=["GET"]),
        Route("/timelines", create_timeline, methods=["POST"]),
        Route("/timelines/validate", validate_timeline, methods=["POST"]),
        Route("/timelines/schedule", draft_schedule, methods=["POST"]),
        Route("/timelines/{id}", get_timeline, methods=["GET"]),
        Route("/timelines/{id}", put_timeline, methods=["PUT"]),
        Route("/timelines/{id}", delete_timeline, methods=["DELETE"]),
        Route("/timelines/{id}/schedule", timeline_schedule, methods=["GET"]),
        Route("/audio", upload_audio, methods=["POST"]),
        Route("/audio/{id}", get_audio, methods=["GET"]),
    ]
