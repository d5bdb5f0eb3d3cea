"""REST routes for video export jobs: create, watch, download and cancel (I/O at the HTTP edge).

``POST /exports`` takes ``{"timeline_id": ...}`` or ``{"timeline": {...}}``, optional
``"options"`` (see :class:`ExportOptions`), ``"webhook_url"`` and ``"rig"`` (a rig id from
``GET /rigs``; default: the default rig), and answers 202 with the job. The jobs are the app's
export service (``app.state.exports``) as an :class:`ExportManager`: in-process, or on the Redis
queue for ``streamer worker`` processes when ``REDIS_URL`` is set.
The timeline, options, length cap and audio are all checked before the job is queued, so bad
input is a 4xx at once; what can only fail while encoding fails the job with a readable error.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from streamer.core.errors import NotFound
from streamer.core.resolve import resolve
from streamer.core.timeline import parse_timeline
from streamer.export.formats import FORMATS
from streamer.export.jobs import ACTIVE
from streamer.export.manager import ExportManager
from streamer.export.options import ExportOptions
from streamer.export.render import AudioSource, plan_keys
from streamer.rigset import pick
from streamer.server.errors import BodyError
from streamer.server.http import authorize_write, body_object, read_json
from streamer.server.state import state
from streamer.storage import validate_timeline_id

EXPORT_FIELDS = ("timeline_id", "timeline", "options", "webhook_url", "rig")
CANCEL_WAIT_S = 1.0
# A watched job's state is pushed when it changes, at most this often.
WATCH_EVERY_S = 0.25


async def create_export(request: Request) -> Response:
    authorize_write(request)
    body = body_object(await read_json(request), EXPORT_FIELDS, "with timeline_id or timeline")
    options = ExportOptions.parse(body.get("options"))
    server = state(request)
    timelines, audio_store = server.timelines, server.audio
    served = pick(server.rigs, body.get("rig"))
    rig = served.rig
    timeline_id = body.get("timeline_id")
    if (timeline_id is None) == (body.get("timeline") is None):
        raise BodyError("request body: give exactly one of timeline_id or timeline")

    def prepare() -> tuple[list[str], AudioSource | None, str]:
        if timeline_id is not None:
            name = validate_timeline_id(timeline_id)
            timeline = timelines.load(name)
        else:
            name = "export"
            timeline = parse_timeline(body["timeline"])
            timelines.check_audio(None if timeline.audio is None else timeline.audio.id)
        # Resolving checks the timeline against the rig; the frames are planned once, here,
        # with the length cap and the trim applied before the job is queued.
        keys = plan_keys(resolve(timeline, rig), options, server.settings.export_max_s * 1000)
        source = None
        if timeline.audio is not None and options.audio:
            info = audio_store.info(timeline.audio.id)  # 404 if missing, 422 if not decodable
            source = AudioSource(info.path, timeline.audio.offset_ms)
        return keys, source, name

    keys, source, name = await asyncio.to_thread(prepare)
    # Exports read the viewers' cache but fill their own: a long export never evicts live frames.
    frames = served.frames(server.export_store)
    job = await state(request).exports.submit(
        keys, frames, source, options, name=name, webhook_url=body.get("webhook_url"), rig=served.id
    )
    return JSONResponse(job.to_json(), status_code=202, headers={"Location": f"/exports/{job.id}"})


async def export_formats(request: Request) -> Response:
    """Every export format (the preview page builds its menu from this)."""
    return JSONResponse([spec.to_json() for spec in FORMATS.values()])


async def get_export(request: Request) -> Response:
    job = await state(request).exports.get(request.path_params["id"])
    doc = job.to_json()
    files = state(request).services.export_files
    if files is not None and job.status == "done":  # the presigned download URL (STREAMER_DATA_URL)
        doc["url"] = await asyncio.to_thread(files.url, job)
        doc["url_expires_s"] = files.expires_s
    return JSONResponse(doc, headers={"Cache-Control": "no-store"})


async def export_file(request: Request) -> Response:
    job = await state(request).exports.file_of(request.path_params["id"])
    disposition = "inline" if request.query_params.get("inline") in ("1", "true") else "attachment"
    files = state(request).services.export_files
    if files is not None:  # the file is on S3: the client fetches it from there
        url = await asyncio.to_thread(files.url, job, disposition)
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    stat = await asyncio.to_thread(os.stat, job.path)
    return FileResponse(
        job.path,
        media_type=job.options.media_type,
        filename=job.filename,
        stat_result=stat,
        content_disposition_type=disposition,
        headers={"Cache-Control": "private, max-age=3600"},
    )


async def delete_export(request: Request) -> Response:
    """Cancel a queued or running job (waits up to a second for it to stop); forget a finished one."""
    authorize_write(request)
    jobs = state(request).exports
    job_id = request.path_params["id"]
    job = await jobs.get(job_id)
    if job.status in ACTIVE:
        job = await jobs.cancel(job_id, CANCEL_WAIT_S)
        return JSONResponse(job.to_json())
    await jobs.delete(job_id)
    return Response(status_code=204)


async def watch_export(jobs: ExportManager, job_id: str, send: Callable[[dict[str, Any]], bool]) -> None:
    """Send ``{"type": "export", "export": job}`` whenever the job's progress changes, until it ends.

    Used by the live socket for controllers that sent ``watch_export``; stops early when
    ``send`` returns False (the viewer is gone) or the job is deleted.
    """
    last: tuple[Any, ...] | None = None
    while True:
        try:
            doc = (await jobs.get(job_id)).to_json()
        except NotFound:
            return
        seen = (doc["status"], doc["progress"]["stage"], doc["progress"]["frames"])
        if seen != last:
            if not send({"type": "export", "export": doc}):
                return
            last = seen
        if doc["status"] not in ACTIVE:
            return
        await asyncio.sleep(WATCH_EVERY_S)


def export_routes() -> list[BaseRoute]:
    """The export job routes; the app's lifespan puts the export service on ``app.state.exports``."""
    return [
        Route("/exports", create_export, methods=["POST"]),
        Route("/exports/formats", export_formats, methods=["GET"]),
        Route("/exports/{id}", get_export, methods=["GET"]),
        Route("/exports/{id}/file", export_file, methods=["GET", "HEAD"]),
        Route("/exports/{id}", delete_export, methods=["DELETE"]),
    ]
