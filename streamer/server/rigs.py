"""REST routes for the rigs this server offers: ``GET /rigs`` and ``GET /rigs/{id}`` (I/O at the HTTP edge).

The rigs are loaded once, in the app's lifespan (see :mod:`streamer.rigset`): the default rig
under the id ``default``, then one per valid folder of ``STREAMER_RIGS_DIR``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from streamer.core.errors import NotFound
from streamer.rigset import DEFAULT_RIG_ID
from streamer.server.http import rig_json
from streamer.server.state import state


async def list_rigs(request: Request) -> Response:
    rigs = state(request).rigs
    return JSONResponse({"default": DEFAULT_RIG_ID, "rigs": [served.to_json() for served in rigs.values()]})


async def get_rig(request: Request) -> Response:
    rig_id = request.path_params["id"]
    served = state(request).rigs.get(rig_id)
    if served is None:
        raise NotFound(f"no rig {rig_id[:80]!r} (GET /rigs lists them)")
    return JSONResponse({"id": served.id, **rig_json(served.rig), "frame_base_url": served.frame_base_url})


def rig_routes() -> list[BaseRoute]:
    return [
        Route("/rigs", list_rigs, methods=["GET"]),
        Route("/rigs/{id}", get_rig, methods=["GET"]),
    ]
