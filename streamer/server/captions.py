"""REST routes for a stored timeline's captions and lip-sync export (I/O at the HTTP edge).

``GET /timelines/{id}/captions.srt`` (``application/x-subrip``), ``.../captions.vtt``
(``text/vtt``) and ``GET /timelines/{id}/lipsync.json`` (Rhubarb Lip Sync JSON, mouth shapes
through the server rig's viseme map). A timeline without a ``words`` track (captions) or a
``speech`` track (lip-sync) is a 422 naming the track; an unknown id a 404.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from streamer.server.state import state
from streamer.speech.formats.captions import export_timeline

CACHE_CONTROL = "no-cache"  # timelines can be replaced (PUT): always revalidate


async def _respond(request: Request, fmt: str, filename: str) -> Response:
    server = state(request)
    store, rig = server.timelines, server.rig
    timeline_id = request.path_params["id"]

    def build() -> tuple[str, str]:
        exported = export_timeline(store.load(timeline_id), fmt, rig.config.visemes)
        return exported.text, exported.media_type

    async with server.heavy.slot("caption export"):
        text, media_type = await asyncio.to_thread(build)
    headers = {
        "Cache-Control": CACHE_CONTROL,
        # Shown inline in a browser, saved under a useful name by download tools.
        "Content-Disposition": f'inline; filename="{timeline_id}{filename}"',
    }
    return Response(text.encode("utf-8"), media_type=media_type, headers=headers)


async def captions_srt(request: Request) -> Response:
    return await _respond(request, "srt", ".srt")


async def captions_vtt(request: Request) -> Response:
    return await _respond(request, "vtt", ".vtt")


async def lipsync_json(request: Request) -> Response:
    return await _respond(request, "rhubarb_json", ".lipsync.json")


def caption_routes() -> list[BaseRoute]:
    """The caption and lip-sync export routes (each a sub-path of one timeline, so no clash with its CRUD)."""
    return [
        Route("/timelines/{id}/captions.srt", captions_srt, methods=["GET"]),
        Route("/timelines/{id}/captions.vtt", captions_vtt, methods=["GET"]),
        Route("/timelines/{id}/lipsync.json", lipsync_json, methods=["GET"]),
    ]
