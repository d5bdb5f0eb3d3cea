"""The REST reference: the server's OpenAPI 3.1 document, served at ``/openapi.json`` (no I/O).

This module is the single source of the REST documentation. ``docs/openapi.json`` and
``docs/rest.md`` are generated from it (``python -m streamer.server.reference``), and the
tests check that its paths are exactly the app's routes and that real answers validate
against its schemas. The live WebSocket protocol is documented in ``docs/protocol.md``.
The parts: :mod:`.schema` (helpers), :mod:`.components` (the schemas), :mod:`.paths_store` and
:mod:`.paths_live` (the operations by area), :mod:`.markdown` (the page).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

import streamer
from streamer.server.reference.components import SCHEMAS
from streamer.server.reference.markdown import render_markdown
from streamer.server.reference.paths_live import LIVE_PATHS
from streamer.server.reference.paths_store import STORE_PATHS
from streamer.server.reference.schema import (
    SEC_AUDIO,
    SEC_CHANNELS,
    SEC_CLIENT,
    SEC_EXPORTS,
    SEC_FRAMES,
    SEC_SERVICE,
    SEC_SPEECH,
    SEC_TIMELINES,
    Schema,
)

__all__ = ["PATHS", "SCHEMAS", "allowed_methods", "markdown", "openapi", "reference_routes"]

PATHS: dict[str, Schema] = {**STORE_PATHS, **LIVE_PATHS}

TAGS = [
    (SEC_SERVICE, "Health and readiness for load balancers, counters, this document."),
    (SEC_FRAMES, "The rigs and their frame images."),
    (SEC_TIMELINES, "Stored timelines: create, replace, list, and what they resolve to."),
    (SEC_AUDIO, "Audio files that timelines play (`audio.id`)."),
    (SEC_CHANNELS, "Live channels, for bots and stream decks (the WebSocket commands over REST)."),
    (SEC_EXPORTS, "Rendering timelines to video files in the background."),
    (SEC_SPEECH, "Text to speech, lip-sync and emotion planning."),
    (SEC_CLIENT, "The pages."),
]


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the REST API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "streamer REST API",
            "version": streamer.__version__,
            "description": "Writes need `Authorization: Bearer TOKEN` (or `?token=`) when STREAMER_TOKEN is set. "
            "Errors are JSON `{error}` with a 4xx or 5xx status. The live WebSocket protocol (/ws) is in "
            "docs/protocol.md.",
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
    }


def markdown(doc: dict[str, Any] | None = None) -> str:
    """``docs/rest.md``: the reference page, generated from :func:`openapi`."""
    return render_markdown(doc or openapi())


def allowed_methods(scope: Scope) -> str:
    """The methods some route of the app serves at ``scope``'s path, for a 405's ``Allow`` header."""
    methods: set[str] = set()
    for route in scope["app"].router.routes:
        if isinstance(route, Route) and route.matches(scope)[0] == Match.PARTIAL:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


async def openapi_json(request: Request) -> Response:
    return JSONResponse(openapi())


def reference_routes() -> list[BaseRoute]:
    return [Route("/openapi.json", openapi_json, methods=["GET"])]


def main() -> None:
    """Write docs/openapi.json and docs/rest.md next to this package."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[3] / "docs"
    (docs / "openapi.json").write_text(json.dumps(openapi(), indent=1) + "\n", encoding="utf-8")
    (docs / "rest.md").write_text(markdown(), encoding="utf-8")
    print(f"wrote {docs / 'openapi.json'} and {docs / 'rest.md'}")
