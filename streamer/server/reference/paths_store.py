"""The REST reference's operations for the service, rigs and frames, timelines and audio (no I/O)."""

from __future__ import annotations

from streamer.server.reference.schema import (
    NAME,
    RIG,
    SEC_AUDIO,
    SEC_CLIENT,
    SEC_FRAMES,
    SEC_SERVICE,
    SEC_TIMELINES,
    TEXT,
    TIMELINE_ID,
    Schema,
    content,
    obj,
    op,
    param,
    ref,
    request_body,
)

STORE_PATHS: dict[str, Schema] = {
    "/": {
        "get": op(
            "The preview page",
            SEC_CLIENT,
            {"307": {"description": "redirect to /client/preview.html (with the query string, e.g. ?channel=)"}},
        )
    },
    "/director": {
        "get": op(
            "The Director: the timeline editor page",
            SEC_CLIENT,
            {"307": {"description": "redirect to /client/director.html (with the query string, e.g. ?timeline=ID)"}},
        )
    },
    "/client/{path}": {
        "get": op(
            "The browser client's files",
            SEC_CLIENT,
            {"200": {"description": "the file"}, "404": content(ref("Error"), "no such file")},
            description="`preview.html` (preview and controls), `director.html` (the timeline editor), "
            "`obs.html?channel=NAME` (an OBS browser source) and the ES modules they load.",
            params=(param("path", "path", "file below client/"),),
        )
    },
    "/openapi.json": {
        "get": op("This document", SEC_SERVICE, {"200": content({"type": "object"}, "the OpenAPI 3.1 document")})
    },
    "/health": {"get": op("Liveness and counters", SEC_SERVICE, {"200": content(ref("Health"), "the server runs")})},
    "/ready": {
        "get": op(
            "Readiness",
            SEC_SERVICE,
            {
                "200": content(ref("Ready"), "ready to serve"),
                "503": content(ref("Ready"), "not ready: `problems` says why"),
            },
        )
    },
    "/metrics": {
        "get": op(
            "Every process's figures for Prometheus",
            SEC_SERVICE,
            {
                "200": {
                    "description": "Prometheus's text format 0.0.4, or OpenMetrics 1.0 when `Accept` asks for "
                    "`application/openmetrics-text`",
                    "content": {
                        "text/plain": {"schema": TEXT},
                        "application/openmetrics-text": {"schema": TEXT},
                    },
                }
            },
            description="Viewers, channels, messages and frames sent, late frames, the frame cache and the "
            "process's CPU and memory, one series per server process (`process` label): with REDIS_URL, every "
            "live process's, whichever one is scraped. The export jobs by status, once. Names and meanings: "
            "docs/scaling.md, 'Metrics'.",
        )
    },
    "/metrics.json": {
        "get": op(
            "The same figures as JSON",
            SEC_SERVICE,
            {"200": content(ref("Metrics"), "this process's figures, the export jobs and the other processes'")},
        )
    },
    "/rig": {"get": op("The default rig", SEC_FRAMES, {"200": content(ref("Rig"), "names, axes and sequences")})},
    "/rigs": {
        "get": op(
            "The rigs this server offers",
            SEC_FRAMES,
            {"200": content(ref("Rigs"), "the default rig first, then each valid folder of STREAMER_RIGS_DIR")},
            description='A channel plays one of them: switch it with `POST /channels/{name}/set` `{"rig": ID}` '
            "(or the WebSocket `set`). Folders that are not valid rigs are skipped (the server logs why). "
            "See docs/rigs.md, 'Try your character live'.",
        )
    },
    "/rigs/{id}": {
        "get": op(
            "One rig in full",
            SEC_FRAMES,
            {"200": content(ref("Rig"), "as GET /rig, plus `id` and `frame_base_url`")},
            params=(param("id", "path", "a rig id from GET /rigs"),),
            errors="404",
        )
    },
    "/frames/{key}": {
        "get": op(
            "One frame image",
            SEC_FRAMES,
            {
                "200": {
                    "description": "the PNG (immutable: cached for a year, with an ETag)",
                    "content": {"image/png": {}},
                },
                "304": {"description": "If-None-Match matched the ETag"},
                "503": content(ref("Error"), "the frame store is unavailable; Retry-After"),
            },
            description="Another rig than the default one serves its frames under `rigs/{id}/`: "
            "`/frames/rigs/{id}/endpoints/neutral__center.png`.",
            params=(param("key", "path", "frame key below the rig root, e.g. endpoints/neutral__center.png"),),
            errors="400 404",
        )
    },
    "/timelines": {
        "get": op(
            "List timelines, most recently stored first",
            SEC_TIMELINES,
            {"200": content({"type": "array", "items": ref("TimelineSummary")}, "the timelines")},
        ),
        "post": op(
            "Create a timeline",
            SEC_TIMELINES,
            {"201": content(ref("TimelineCreated"), "stored; Location is its URL")},
            description="Stores a new timeline. Its id is `?id=` when given (409 if taken: PUT replaces), "
            "else made from its name and a random suffix (`good-morning-3fa2`). Its name is `?name=`, else "
            "the document's `name`, else its id. A timeline with audio names an uploaded file: POST /audio "
            "first and put the returned id in `audio.id`.",
            params=(
                param("id", "query", "the id to store it under (default: generated)", required=False),
                NAME,
                RIG,
            ),
            body=request_body(ref("Timeline")),
            errors="400 409 413 422",
            write=True,
        ),
    },
    "/timelines/validate": {
        "post": op(
            "Check a timeline without storing it",
            SEC_TIMELINES,
            {"200": content(ref("Validated"), "it is valid for this rig")},
            body=request_body(ref("Timeline")),
            errors="413 422 429",
        )
    },
    "/timelines/schedule": {
        "post": op(
            "Resolve a timeline without storing it",
            SEC_TIMELINES,
            {
                "200": content(
                    ref("DraftSchedule"), "the schedule `GET /timelines/{id}/schedule` would give, and blinks"
                )
            },
            description="What the Director draws a draft with: the same resolution as a stored timeline's "
            "schedule, plus where the character blinks.",
            params=(
                param(
                    "fps", "query", "also list every frame index's key at this rate (24, 30000/1001)", required=False
                ),
                RIG,
            ),
            body=request_body(ref("Timeline")),
            errors="400 413 422 429",
        )
    },
    "/timelines/{id}": {
        "get": op(
            "A timeline document, as it was sent",
            SEC_TIMELINES,
            {"200": content(ref("Timeline"), "the document; ETag is its stored version")},
            params=(TIMELINE_ID,),
            errors="400 404",
        ),
        "put": op(
            "Create or replace a timeline under an id",
            SEC_TIMELINES,
            {"200": content(ref("TimelineStored"), "stored; `created` says whether it was new; ETag: the new version")},
            description="A replacement keeps its name unless `?name=` or the document's `name` gives one. "
            "A document that does not validate changes nothing. To refuse overwriting someone else's save, "
            "send `If-Match` with the ETag of the version you read (from GET or the last PUT): a stale one "
            "is a 412 and changes nothing (`If-Match: *` only replaces an existing timeline). Without "
            "`If-Match` the write is unconditional.",
            params=(
                TIMELINE_ID,
                NAME,
                RIG,
                param("If-Match", "header", "the ETag of the version being replaced (optional)", required=False),
            ),
            body=request_body(ref("Timeline")),
            errors="400 412 413 422",
            write=True,
        ),
        "delete": op(
            "Delete a timeline",
            SEC_TIMELINES,
            {"204": {"description": "deleted"}},
            params=(TIMELINE_ID,),
            errors="400 404",
            write=True,
        ),
    },
    "/timelines/{id}/schedule": {
        "get": op(
            "The timeline's frame schedule",
            SEC_TIMELINES,
            {"200": content(ref("Schedule"), "`changes` are [t_ms, frame key] pairs")},
            description="The same schedule live playback and export use (`streamer schedule`).",
            params=(
                TIMELINE_ID,
                param(
                    "fps", "query", "also list every frame index's key at this rate (24, 30000/1001)", required=False
                ),
                param(
                    "rig", "query", "resolve it for this rig (default: the default rig; 400 if unknown)", required=False
                ),
            ),
            errors="400 404 422 429",
        )
    },
    "/timelines/{id}/captions.srt": {
        "get": op(
            "Captions as SubRip",
            SEC_TIMELINES,
            {"200": {"description": "SRT from the words track", "content": {"application/x-subrip": {"schema": TEXT}}}},
            params=(TIMELINE_ID,),
            errors="400 404 422 429",
        )
    },
    "/timelines/{id}/captions.vtt": {
        "get": op(
            "Captions as WebVTT",
            SEC_TIMELINES,
            {"200": {"description": "WebVTT from the words track", "content": {"text/vtt": {"schema": TEXT}}}},
            params=(TIMELINE_ID,),
            errors="400 404 422 429",
        )
    },
    "/timelines/{id}/lipsync.json": {
        "get": op(
            "Lip-sync as Rhubarb JSON",
            SEC_TIMELINES,
            {"200": content({"type": "object"}, "Rhubarb's `{metadata, mouthCues}` from the speech track")},
            params=(TIMELINE_ID,),
            errors="400 404 422 429",
        )
    },
    "/audio": {
        "post": op(
            "Upload audio for a timeline",
            SEC_AUDIO,
            {"201": content(ref("Audio"), "stored; use `id` as the timeline's `audio.id`")},
            description="The body is the file itself (any Content-Type, `?filename=` optional) or "
            "multipart/form-data with the file in a `file` field. WAV, MP3, OGG (Vorbis or Opus), M4A (AAC) "
            "or FLAC, at most STREAMER_MAX_UPLOAD_MB and STREAMER_MAX_AUDIO_S. Uploads are stored by content "
            "hash, so the same file uploaded twice gets the same id. `streamer play TIMELINE.json` does "
            "this and the timeline upload in one step.",
            params=(param("filename", "query", "the original file name (logged only)", required=False),),
            body={
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {"schema": obj(file={"type": "string", "format": "binary"})},
                },
            },
            errors="400 413 422",
            write=True,
        )
    },
    "/audio/{id}": {
        "get": op(
            "An audio file",
            SEC_AUDIO,
            {"200": {"description": "the file (Range requests supported)", "content": {"audio/*": {}}}},
            params=(param("id", "path", "audio id, e.g. 3fa2c1d0e9b8a7f6.opus"),),
            errors="400 404",
        )
    },
}
