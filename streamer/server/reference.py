"""The REST reference: the server's OpenAPI 3.1 document, served at ``/openapi.json`` (no I/O).

This module is the single source of the REST documentation. ``docs/openapi.json`` and
``docs/rest.md`` are generated from it (``python -m streamer.server.reference``), and the
tests check that its paths are exactly the app's routes and that real answers validate
against its schemas. The live WebSocket protocol is documented in ``docs/protocol.md``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

import streamer

Schema = dict[str, Any]

# -- schemas -------------------------------------------------------------------------------


def _obj(required: str = "", optional: bool = False, **props: Schema) -> Schema:
    """An object schema; ``required`` is a space-separated list (default: every property)."""
    names = required.split() if required else ([] if optional else list(props))
    return {"type": "object", "required": names, "properties": props}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


INT = {"type": "integer"}
STR = {"type": "string"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
MS = {"type": "integer", "description": "milliseconds"}
STATE = _obj(expr=STR, pose=STR)
RIG_ID = {"type": "string", "description": "a rig id from GET /rigs (`default`, or a folder of STREAMER_RIGS_DIR)"}

SCHEMAS: dict[str, Schema] = {
    "Error": _obj(
        "error",
        error={"type": "string", "description": "what was wrong, naming the field or value"},
        provider={"type": "string", "description": "the external service that failed (502/503/504 only)"},
    ),
    "FrameStats": _nullable(
        {
            "type": "object",
            "description": "the frame cache's counters: hits, misses, store_gets, bytes, evictions, errors, ...",
            "additionalProperties": NUM,
        }
    ),
    "Health": _obj(
        "status version rig channels frames",
        status={"const": "ok"},
        version=STR,
        rig=STR,
        channels=INT,
        frames=_ref("FrameStats"),
        export_queue={
            **_obj("", True, queued=INT, running=INT, workers=INT, error=STR),
            "description": "with REDIS_URL: export jobs queued and running, and `streamer worker` processes alive "
            "(or error: Redis does not answer)",
        },
    ),
    "Ready": _obj("status", status={"enum": ["ready", "unavailable"]}, problems={"type": "array", "items": STR}),
    "Metrics": _obj(frames=_ref("FrameStats")),
    "Rig": _obj(
        name=STR,
        size=_nullable({"type": "array", "items": INT, "minItems": 2, "maxItems": 2}),
        axes={"type": "object", "additionalProperties": {"type": "array", "items": STR}},
        poses={"type": "array", "items": STR},
        expressions={"type": "object", "additionalProperties": {"type": "object", "additionalProperties": STR}},
        visemes={"type": "object", "additionalProperties": STR, "description": "speech viseme -> expression"},
        sequences={
            "type": "array",
            "items": _obj(id=STR, start=STATE, end=STATE, frames=INT),
        },
        endpoints=INT,
    ),
    "RigSummary": _obj(
        id={"type": "string", "description": "the rig's id: `default`, or its folder name in STREAMER_RIGS_DIR"},
        name={"type": "string", "description": "its display name (rig.json's `name`)"},
        default={"type": "boolean", "description": "the server's default rig (STREAMER_FRAMES_DIR or S3)"},
        size=_nullable({"type": "array", "items": INT, "minItems": 2, "maxItems": 2}),
        expressions={"type": "array", "items": STR},
        poses={"type": "array", "items": STR},
        frames={"type": "integer", "description": "frame images"},
        frame_base_url=_nullable(
            {
                "type": "string",
                "description": "frame URLs are this + key (`/frames/rigs/{id}/` for all but the default)",
            }
        ),
    ),
    "Rigs": _obj(default={"const": "default"}, rigs={"type": "array", "items": _ref("RigSummary")}),
    "Timeline": {
        "description": "A timeline document: v1 (`{version: 1, name?, start, audio?, tracks, idle, duration_ms?}`) "
        "or a face_rig keyframe list (`{keyframes: [...]}` or a bare list). See README.md, 'Timelines'.",
        "anyOf": [{"type": "object"}, {"type": "array"}],
    },
    "TimelineSummary": _obj(
        id=STR,
        name={"type": "string", "description": "the human name (Say text, file name), or the id"},
        duration_ms=_nullable(INT),
        updated={"type": "string", "description": "ISO 8601 UTC time it was last stored"},
    ),
    "TimelineCreated": _obj(id=STR, name=STR),
    "TimelineStored": _obj(
        id=STR, name=STR, duration_ms=MS, created={"type": "boolean", "description": "false: it replaced one"}
    ),
    "Validated": _obj(ok={"const": True}, source={"enum": ["v1", "face_rig"]}, duration_ms=MS),
    "Schedule": _obj(
        "id duration_ms changes",
        id=STR,
        duration_ms=MS,
        changes={"type": "array", "items": {"type": "array", "prefixItems": [INT, STR], "minItems": 2}},
        fps={"type": "string", "description": "with ?fps: the rate, as an integer or a fraction"},
        frames={"type": "array", "items": STR, "description": "with ?fps: the frame key of every frame index"},
    ),
    "Voice": _obj(
        voice={"type": "string", "description": "give it as /speech's `voice`"},
        languages={"type": "array", "items": STR},
        name=STR,
    ),
    "DraftSchedule": _obj(
        "timeline_duration_ms duration_ms changes blinks",
        timeline_duration_ms={**MS, "description": "the timeline's own duration (the schedule may run longer)"},
        duration_ms=MS,
        changes={"type": "array", "items": {"type": "array", "prefixItems": [INT, STR], "minItems": 2}},
        blinks={"type": "array", "items": {"type": "array"}, "description": "[t_ms, closed_for_ms]: explicit and idle"},
        fps={"type": "string", "description": "with ?fps: the rate, as an integer or a fraction"},
        frames={"type": "array", "items": STR, "description": "with ?fps: the frame key of every frame index"},
    ),
    "Audio": _obj(
        id={"type": "string", "description": "use it as the timeline's audio.id"},
        duration_ms=MS,
        content_type=STR,
    ),
    "Program": _obj(
        id=STR,
        timeline_id=_nullable(STR),
        start_ms=MS,
        end_ms=MS,
        duration_ms=MS,
        audio=_nullable(_obj(url=STR, start_ms=MS, duration_ms=MS)),
    ),
    "Channel": _obj(
        channel=STR,
        server_time_ms=MS,
        state=STATE,
        rig={"type": "string", "description": "the id of the rig the channel plays"},
        program=_nullable(_ref("Program")),
        viewers={"type": "integer", "description": "connected viewers and controllers"},
        commands={"type": "integer", "description": "play, stop and set commands accepted since it was created"},
    ),
    "PlayRequest": _obj(
        "",
        optional=True,
        timeline_id={"type": "string", "description": "a stored timeline (or give `timeline`)"},
        timeline=_ref("Timeline"),
        rig={**RIG_ID, "description": "play it on this rig (the channel switches to it first)"},
        at_ms={"type": "integer", "description": "server time to start; see docs/protocol.md"},
    ),
    "SetRequest": _obj(
        "",
        optional=True,
        expr=STR,
        pose=STR,
        rig={**RIG_ID, "description": "switch the channel to this rig first (expr and pose are then that rig's)"},
        transition_ms={"type": "integer", "minimum": 0, "maximum": 60000, "default": 300},
    ),
    "SayRequest": _obj(
        "text",
        text={"type": "string", "description": "what to say (at most 10,000 characters per request)"},
        stream={"type": "string", "description": "the stream this text belongs to (1-64 of A-Z a-z 0-9 _ -)"},
        final={"type": "boolean", "default": True, "description": "false while more of the stream will follow"},
        voice={"type": "string", "description": "espeak-ng voice or language tag, or an ElevenLabs voice id"},
        rate_wpm={"type": "integer", "minimum": 80, "maximum": 450, "default": 165},
        pitch={"type": "integer", "minimum": 0, "maximum": 100, "default": 50},
        provider={"enum": ["offline", "elevenlabs"], "default": "offline"},
        emotions={"enum": ["auto", "rules", "openai"]},
        lipsync={"enum": ["phoneme", "word"], "default": "phoneme"},
    ),
    "SayResult": _obj(
        stream=STR,
        segments={"type": "integer", "description": "segments the stream's text was cut into so far"},
        final={"type": "boolean"},
    ),
    "Interrupted": _obj(interrupted=_nullable({"type": "string", "description": "the program cut short, if any"})),
    "Stopped": _obj(stopped=_nullable({"type": "string", "description": "the program stopped, if any"})),
    "SetResult": _obj(
        "expr pose rig",
        expr=STR,
        pose=STR,
        t_ms={"type": "integer", "description": "when the character arrives (absent when nothing changed)"},
        rig={"type": "string", "description": "the rig the channel plays"},
    ),
    "ExportRequest": _obj(
        "",
        optional=True,
        timeline_id=STR,
        timeline=_ref("Timeline"),
        options=_obj(
            "",
            optional=True,
            format={"enum": ["mp4", "webm", "mov"]},
            fps={"type": "integer", "minimum": 12, "maximum": 60},
            size={"description": "WIDTHxHEIGHT or [w, h]"},
            scale=NUM,
            quality={"enum": ["draft", "standard", "high"]},
            background={"description": "'#rrggbb', a colour name or [r, g, b]"},
            start_ms=INT,
            end_ms=INT,
            audio=BOOL,
        ),
        webhook_url={
            "type": "string",
            "description": "POSTed the job when it ends (hosts: STREAMER_EXPORT_WEBHOOK_HOSTS)",
        },
        rig={**RIG_ID, "description": "render with this rig (default: the default rig)"},
    ),
    "ExportJob": _obj(
        "id status name options progress error created finished",
        id=STR,
        status={"enum": ["queued", "running", "done", "failed", "cancelled"]},
        name=STR,
        options={"type": "object"},
        progress=_obj(frames=INT, total=INT, stage=STR, percent=NUM, eta_s=_nullable(NUM)),
        error=_nullable(STR),
        created=NUM,
        finished=_nullable(NUM),
        file={"type": "string", "description": "when done: the file's URL"},
        filename=STR,
        size_bytes=INT,
        expires=NUM,
    ),
    "SpeechRequest": _obj(
        "text",
        text={"type": "string", "description": "what to say (at most 1,000 characters); also the timeline's name"},
        voice={"type": "string", "description": "espeak-ng voice or language tag (GET the list: `streamer voices`)"},
        rate_wpm={"type": "integer", "minimum": 80, "maximum": 450, "default": 165},
        pitch={"type": "integer", "minimum": 0, "maximum": 100, "default": 50},
        provider={"enum": ["offline", "elevenlabs"], "default": "offline"},
        emotions={"enum": ["auto", "rules", "openai"]},
        lipsync={"enum": ["phoneme", "word"], "default": "phoneme"},
        rig={**RIG_ID, "description": "plan the face with this rig's expressions (default: the default rig)"},
    ),
    "SpeechResult": _obj(
        "timeline_id audio_id duration_ms timeline",
        timeline_id=STR,
        audio_id=STR,
        duration_ms=MS,
        timeline=_ref("Timeline"),
        provider=STR,
        emotions={"type": "object", "description": "who planned the face (provider, fallback)"},
    ),
    "Word": _obj(t_ms=MS, end_ms=MS, text=STR),
    "EmotionsRequest": _obj(
        "words",
        words={"type": "array", "items": _ref("Word")},
        text={"type": "string", "description": "the transcript, for punctuation"},
        provider={"enum": ["auto", "rules", "openai"]},
    ),
    "EmotionsResult": _obj(
        "emotion sentences provider",
        emotion={"type": "array", "items": {"type": "object"}, "description": "an emotion track"},
        sentences={"type": "array", "items": {"type": "object"}},
        provider=STR,
        fallback=STR,
    ),
    "AlignResult": _obj(
        "timeline_id audio_id duration_ms timeline words unplaced confidence provider warnings",
        timeline_id=STR,
        audio_id=STR,
        duration_ms=MS,
        timeline=_ref("Timeline"),
        words={"type": "array", "items": {"type": "object"}},
        unplaced={"type": "array", "items": STR},
        confidence=NUM,
        provider=STR,
        warnings={"type": "array", "items": STR},
    ),
}

# -- operations ----------------------------------------------------------------------------

JSON = "application/json"
ERRORS = {
    "400": "a bad parameter or id",
    "401": "a write without the control token (when STREAMER_TOKEN is set)",
    "403": "a write from a browser origin that is neither the server's own nor listed in CORS_ORIGINS",
    "404": "nothing by that id",
    "409": "the id is taken, or the export is not done",
    "412": "If-Match names a version that is no longer stored: someone saved meanwhile (reload, or drop If-Match)",
    "413": "the body is over its size limit",
    "415": "a JSON body sent without Content-Type: application/json",
    "422": "the document or upload does not validate (the message names the field)",
    "429": "busy: too much work at once or queued; Retry-After says when to try again",
    "503": "a store or engine is unavailable (Retry-After says when to try again)",
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _param(name: str, where: str, description: str, schema: Schema = STR, required: bool | None = None) -> Schema:
    return {
        "name": name,
        "in": where,
        "required": where == "path" if required is None else required,
        "description": description,
        "schema": schema,
    }


def _op(
    summary: str,
    tag: str,
    responses: dict[str, Schema],
    *,
    description: str = "",
    params: tuple[Schema, ...] = (),
    body: Schema | None = None,
    errors: str = "",
    write: bool = False,
) -> Schema:
    out: Schema = {"summary": summary, "tags": [tag], "responses": dict(responses)}
    if description:
        out["description"] = description
    if params:
        out["parameters"] = list(params)
    if body is not None:
        out["requestBody"] = body
    codes = errors.split() + (["401", "403"] if write else [])
    if body is not None and JSON in body.get("content", {}):
        codes.append("415")
    for code in codes:
        out["responses"][code] = _json(_ref("Error"), ERRORS[code])
    if write:
        out["security"] = [{"token": []}, {}]
    return out


def _body(schema: Schema, description: str = "", media: str = JSON) -> Schema:
    out: Schema = {"required": True, "content": {media: {"schema": schema}}}
    if description:
        out["description"] = description
    return out


TIMELINE_ID = _param("id", "path", "timeline id, `[a-z0-9][a-z0-9_-]{0,63}`")
CHANNEL = _param("name", "path", "channel name, `[a-z0-9][a-z0-9_-]{0,63}`; created on first use")
EXPORT_ID = _param("id", "path", "export job id (from POST /exports)")
NAME = _param("name", "query", "the timeline's human name (at most 120 characters)", required=False)
RIG = _param("rig", "query", "check it against this rig (a rig id; default: the default rig)", required=False)
TEXT = {"type": "string"}
SEC_SERVICE, SEC_FRAMES, SEC_TIMELINES, SEC_AUDIO = "service", "rig and frames", "timelines", "audio"
SEC_CHANNELS, SEC_EXPORTS, SEC_SPEECH, SEC_CLIENT = "channels", "exports", "speech", "browser client"


def _channel_command(summary: str, description: str, body: Schema, result: str) -> Schema:
    return {
        "post": _op(
            summary,
            SEC_CHANNELS,
            {"200": _json(_ref(result), "the same `result` as the WebSocket `ack`")},
            description=description,
            params=(CHANNEL,),
            body=body,
            errors="400 404 413 422",
            write=True,
        )
    }


PATHS: dict[str, Schema] = {
    "/": {
        "get": _op(
            "The preview page",
            SEC_CLIENT,
            {"307": {"description": "redirect to /client/preview.html (with the query string, e.g. ?channel=)"}},
        )
    },
    "/director": {
        "get": _op(
            "The Director: the timeline editor page",
            SEC_CLIENT,
            {"307": {"description": "redirect to /client/director.html (with the query string, e.g. ?timeline=ID)"}},
        )
    },
    "/client/{path}": {
        "get": _op(
            "The browser client's files",
            SEC_CLIENT,
            {"200": {"description": "the file"}, "404": _json(_ref("Error"), "no such file")},
            description="`preview.html` (preview and controls), `director.html` (the timeline editor), "
            "`obs.html?channel=NAME` (an OBS browser source) and the ES modules they load.",
            params=(_param("path", "path", "file below client/"),),
        )
    },
    "/openapi.json": {
        "get": _op("This document", SEC_SERVICE, {"200": _json({"type": "object"}, "the OpenAPI 3.1 document")})
    },
    "/health": {"get": _op("Liveness and counters", SEC_SERVICE, {"200": _json(_ref("Health"), "the server runs")})},
    "/ready": {
        "get": _op(
            "Readiness",
            SEC_SERVICE,
            {
                "200": _json(_ref("Ready"), "ready to serve"),
                "503": _json(_ref("Ready"), "not ready: `problems` says why"),
            },
        )
    },
    "/metrics": {"get": _op("Frame cache counters", SEC_SERVICE, {"200": _json(_ref("Metrics"), "the counters")})},
    "/rig": {"get": _op("The default rig", SEC_FRAMES, {"200": _json(_ref("Rig"), "names, axes and sequences")})},
    "/rigs": {
        "get": _op(
            "The rigs this server offers",
            SEC_FRAMES,
            {"200": _json(_ref("Rigs"), "the default rig first, then each valid folder of STREAMER_RIGS_DIR")},
            description='A channel plays one of them: switch it with `POST /channels/{name}/set` `{"rig": ID}` '
            "(or the WebSocket `set`). Folders that are not valid rigs are skipped (the server logs why). "
            "See docs/rigs.md, 'Try your character live'.",
        )
    },
    "/rigs/{id}": {
        "get": _op(
            "One rig in full",
            SEC_FRAMES,
            {"200": _json(_ref("Rig"), "as GET /rig, plus `id` and `frame_base_url`")},
            params=(_param("id", "path", "a rig id from GET /rigs"),),
            errors="404",
        )
    },
    "/frames/{key}": {
        "get": _op(
            "One frame image",
            SEC_FRAMES,
            {
                "200": {
                    "description": "the PNG (immutable: cached for a year, with an ETag)",
                    "content": {"image/png": {}},
                },
                "304": {"description": "If-None-Match matched the ETag"},
                "503": _json(_ref("Error"), "the frame store is unavailable; Retry-After"),
            },
            description="Another rig than the default one serves its frames under `rigs/{id}/`: "
            "`/frames/rigs/{id}/endpoints/neutral__center.png`.",
            params=(_param("key", "path", "frame key below the rig root, e.g. endpoints/neutral__center.png"),),
            errors="400 404",
        )
    },
    "/timelines": {
        "get": _op(
            "List timelines, most recently stored first",
            SEC_TIMELINES,
            {"200": _json({"type": "array", "items": _ref("TimelineSummary")}, "the timelines")},
        ),
        "post": _op(
            "Create a timeline",
            SEC_TIMELINES,
            {"201": _json(_ref("TimelineCreated"), "stored; Location is its URL")},
            description="Stores a new timeline. Its id is `?id=` when given (409 if taken: PUT replaces), "
            "else made from its name and a random suffix (`good-morning-3fa2`). Its name is `?name=`, else "
            "the document's `name`, else its id. A timeline with audio names an uploaded file: POST /audio "
            "first and put the returned id in `audio.id`.",
            params=(
                _param("id", "query", "the id to store it under (default: generated)", required=False),
                NAME,
                RIG,
            ),
            body=_body(_ref("Timeline")),
            errors="400 409 413 422",
            write=True,
        ),
    },
    "/timelines/validate": {
        "post": _op(
            "Check a timeline without storing it",
            SEC_TIMELINES,
            {"200": _json(_ref("Validated"), "it is valid for this rig")},
            body=_body(_ref("Timeline")),
            errors="413 422 429",
        )
    },
    "/timelines/schedule": {
        "post": _op(
            "Resolve a timeline without storing it",
            SEC_TIMELINES,
            {"200": _json(_ref("DraftSchedule"), "the schedule `GET /timelines/{id}/schedule` would give, and blinks")},
            description="What the Director draws a draft with: the same resolution as a stored timeline's "
            "schedule, plus where the character blinks.",
            params=(
                _param(
                    "fps", "query", "also list every frame index's key at this rate (24, 30000/1001)", required=False
                ),
                RIG,
            ),
            body=_body(_ref("Timeline")),
            errors="400 413 422 429",
        )
    },
    "/timelines/{id}": {
        "get": _op(
            "A timeline document, as it was sent",
            SEC_TIMELINES,
            {"200": _json(_ref("Timeline"), "the document; ETag is its stored version")},
            params=(TIMELINE_ID,),
            errors="400 404",
        ),
        "put": _op(
            "Create or replace a timeline under an id",
            SEC_TIMELINES,
            {"200": _json(_ref("TimelineStored"), "stored; `created` says whether it was new; ETag: the new version")},
            description="A replacement keeps its name unless `?name=` or the document's `name` gives one. "
            "A document that does not validate changes nothing. To refuse overwriting someone else's save, "
            "send `If-Match` with the ETag of the version you read (from GET or the last PUT): a stale one "
            "is a 412 and changes nothing (`If-Match: *` only replaces an existing timeline). Without "
            "`If-Match` the write is unconditional.",
            params=(
                TIMELINE_ID,
                NAME,
                RIG,
                _param("If-Match", "header", "the ETag of the version being replaced (optional)", required=False),
            ),
            body=_body(_ref("Timeline")),
            errors="400 412 413 422",
            write=True,
        ),
        "delete": _op(
            "Delete a timeline",
            SEC_TIMELINES,
            {"204": {"description": "deleted"}},
            params=(TIMELINE_ID,),
            errors="400 404",
            write=True,
        ),
    },
    "/timelines/{id}/schedule": {
        "get": _op(
            "The timeline's frame schedule",
            SEC_TIMELINES,
            {"200": _json(_ref("Schedule"), "`changes` are [t_ms, frame key] pairs")},
            description="The same schedule live playback and export use (`streamer schedule`).",
            params=(
                TIMELINE_ID,
                _param(
                    "fps", "query", "also list every frame index's key at this rate (24, 30000/1001)", required=False
                ),
                _param(
                    "rig", "query", "resolve it for this rig (default: the default rig; 400 if unknown)", required=False
                ),
            ),
            errors="400 404 422 429",
        )
    },
    "/timelines/{id}/captions.srt": {
        "get": _op(
            "Captions as SubRip",
            SEC_TIMELINES,
            {"200": {"description": "SRT from the words track", "content": {"application/x-subrip": {"schema": TEXT}}}},
            params=(TIMELINE_ID,),
            errors="400 404 422 429",
        )
    },
    "/timelines/{id}/captions.vtt": {
        "get": _op(
            "Captions as WebVTT",
            SEC_TIMELINES,
            {"200": {"description": "WebVTT from the words track", "content": {"text/vtt": {"schema": TEXT}}}},
            params=(TIMELINE_ID,),
            errors="400 404 422 429",
        )
    },
    "/timelines/{id}/lipsync.json": {
        "get": _op(
            "Lip-sync as Rhubarb JSON",
            SEC_TIMELINES,
            {"200": _json({"type": "object"}, "Rhubarb's `{metadata, mouthCues}` from the speech track")},
            params=(TIMELINE_ID,),
            errors="400 404 422 429",
        )
    },
    "/audio": {
        "post": _op(
            "Upload audio for a timeline",
            SEC_AUDIO,
            {"201": _json(_ref("Audio"), "stored; use `id` as the timeline's `audio.id`")},
            description="The body is the file itself (any Content-Type, `?filename=` optional) or "
            "multipart/form-data with the file in a `file` field. WAV, MP3, OGG (Vorbis or Opus), M4A (AAC) "
            "or FLAC, at most STREAMER_MAX_UPLOAD_MB and STREAMER_MAX_AUDIO_S. Uploads are stored by content "
            "hash, so the same file uploaded twice gets the same id. `streamer play TIMELINE.json` does "
            "this and the timeline upload in one step.",
            params=(_param("filename", "query", "the original file name (logged only)", required=False),),
            body={
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {"schema": _obj(file={"type": "string", "format": "binary"})},
                },
            },
            errors="400 413 422",
            write=True,
        )
    },
    "/audio/{id}": {
        "get": _op(
            "An audio file",
            SEC_AUDIO,
            {"200": {"description": "the file (Range requests supported)", "content": {"audio/*": {}}}},
            params=(_param("id", "path", "audio id, e.g. 3fa2c1d0e9b8a7f6.opus"),),
            errors="400 404",
        )
    },
    "/channels/{name}": {
        "get": _op(
            "A channel's state, rig, program and viewer count",
            SEC_CHANNELS,
            {"200": _json(_ref("Channel"), "the channel")},
            params=(CHANNEL,),
            errors="404",
        )
    },
    "/channels/{name}/play": _channel_command(
        "Play a timeline on a channel",
        "Replaces a program that is playing. The WebSocket `play` command, for bots.",
        _body(_ref("PlayRequest")),
        "Program",
    ),
    "/channels/{name}/stop": _channel_command(
        "Stop the channel's program",
        "The WebSocket `stop` command. The body may be empty.",
        {"required": False, "description": "optional: empty or `{}`", "content": {JSON: {"schema": _obj()}}},
        "Stopped",
    ),
    "/channels/{name}/set": _channel_command(
        "Move the character to an expression and/or pose, or switch the channel's rig",
        "The WebSocket `set` command; ends a program that is playing. With `rig`, every viewer switches to that rig "
        "(400 for a rig GET /rigs does not list).",
        _body(_ref("SetRequest")),
        "SetResult",
    ),
    "/channels/{name}/say": _channel_command(
        "Say text live on a channel",
        "The WebSocket `say` command: the text is cut into segments, each spoken while the one before it "
        "plays and placed where its audio ends. Also takes a chunked `text/plain` body, said as it arrives, "
        "with the options and `stream` in the query string.",
        {
            "required": True,
            "content": {
                JSON: {"schema": _ref("SayRequest")},
                "text/plain": {"schema": {"type": "string", "description": "the text, streamed"}},
            },
        },
        "SayResult",
    ),
    "/channels/{name}/interrupt": _channel_command(
        "Stop speaking now",
        "The WebSocket `interrupt` command: queued text is dropped, synthesis cancelled, the mouth closes.",
        {"required": False, "description": "optional: empty or `{}`", "content": {JSON: {"schema": _obj()}}},
        "Interrupted",
    ),
    "/exports": {
        "post": _op(
            "Start rendering a timeline to video",
            SEC_EXPORTS,
            {"202": _json(_ref("ExportJob"), "queued; poll Location or watch it over the WebSocket")},
            body=_body(_ref("ExportRequest"), "exactly one of `timeline_id` or `timeline`"),
            errors="400 404 413 422 429",
            write=True,
        )
    },
    "/exports/{id}": {
        "get": _op(
            "An export job",
            SEC_EXPORTS,
            {"200": _json(_ref("ExportJob"), "the job")},
            params=(EXPORT_ID,),
            errors="404",
        ),
        "delete": _op(
            "Cancel a running export, or forget a finished one",
            SEC_EXPORTS,
            {"200": _json(_ref("ExportJob"), "cancelled"), "204": {"description": "forgotten"}},
            params=(EXPORT_ID,),
            errors="404",
            write=True,
        ),
    },
    "/exports/{id}/file": {
        "get": _op(
            "The rendered video",
            SEC_EXPORTS,
            {"200": {"description": "the file (attachment; `?inline=1` to play it in the page)"}},
            params=(EXPORT_ID, _param("inline", "query", "1 or true: show rather than download", required=False)),
            errors="404 409",
        ),
        "head": _op(
            "The rendered video's headers",
            SEC_EXPORTS,
            {"200": {"description": "size and type, no body"}},
            params=(EXPORT_ID,),
            errors="404 409",
        ),
    },
    "/speech": {
        "post": _op(
            "Say a line: speech audio, lip-sync and emotions as a stored timeline",
            SEC_SPEECH,
            {"201": _json(_ref("SpeechResult"), "stored; play `timeline_id` on a channel")},
            description="The timeline is named after the text.",
            body=_body(_ref("SpeechRequest")),
            errors="400 413 422 429 503",
            write=True,
        )
    },
    "/speech/voices": {
        "get": _op(
            "The offline voices",
            SEC_SPEECH,
            {"200": _json({"type": "array", "items": _ref("Voice")}, "espeak-ng voices, as `streamer voices` lists")},
        )
    },
    "/emotions": {
        "post": _op(
            "Plan an emotion track for timed words",
            SEC_SPEECH,
            {"200": _json(_ref("EmotionsResult"), "the plan")},
            body=_body(_ref("EmotionsRequest")),
            errors="400 413 422 429 503",
            write=True,
        )
    },
    "/align": {
        "post": _op(
            "Lip-sync a recording (with or without its transcript) as a stored timeline",
            SEC_SPEECH,
            {"201": _json(_ref("AlignResult"), "stored; the timeline is named after the file")},
            body=_body(
                _obj(
                    "audio",
                    audio={"type": "string", "format": "binary"},
                    transcript=STR,
                    voice=STR,
                    provider={"enum": ["offline", "elevenlabs", "whisper", "auto"]},
                    lipsync={"enum": ["phoneme", "word"]},
                ),
                media="multipart/form-data",
            ),
            errors="400 413 422 429 503",
            write=True,
        )
    },
}

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


# -- the Markdown page ---------------------------------------------------------------------

METHODS = ("get", "head", "post", "put", "delete")


def _type_of(schema: Schema) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "anyOf" in schema:
        return " or ".join(_type_of(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array" and "items" in schema:
        return f"array of {_type_of(schema['items'])}"
    return str(kind)


def _fields(schema: Schema) -> list[str]:
    required = set(schema.get("required", []))
    lines = []
    for name, prop in schema.get("properties", {}).items():
        note = prop.get("description", "")
        default = f" (default {json.dumps(prop['default'])})" if "default" in prop else ""
        optional = "" if name in required else ", optional"
        lines.append(f"- `{name}` ({_type_of(prop)}{optional}){default}{': ' + note if note else ''}")
    return lines


def _operation_md(method: str, path: str, op: Schema) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", "", op["summary"] + ("." if not op["summary"].endswith(".") else "")]
    if op.get("description"):
        lines += ["", op["description"]]
    if op.get("security"):
        lines += ["", "Needs the control token when one is set."]
    params = op.get("parameters", [])
    if params:
        lines += ["", "Parameters:", ""]
        for p in params:
            lines.append(f"- `{p['name']}` ({p['in']}{'' if p['required'] else ', optional'}): {p['description']}")
    body = op.get("requestBody")
    if body:
        media = ", ".join(f"`{m}`" for m in body["content"])
        schemas = [content.get("schema", {}) for content in body["content"].values()]
        named = [_type_of(schema) for schema in schemas if "$ref" in schema]
        description, shape = body.get("description", ""), ", ".join(named)
        summary = f"{description} ({shape})" if description and shape else description or shape
        lines += ["", f"Body ({media}): {summary}." if summary else f"Body ({media}):"]
        fields = [line for schema in schemas if "$ref" not in schema for line in _fields(schema)]
        lines += ["", *fields] if fields else []
    lines += ["", "| status | meaning |", "|---|---|"]
    for code, response in sorted(op["responses"].items()):
        contents: list[Schema] = list(response.get("content", {}).values())
        schema = contents[0].get("schema") if contents else None
        shape = f" ({_type_of(schema)})" if schema and ("$ref" in schema or schema.get("type") == "array") else ""
        lines.append(f"| {code} | {response['description']}{shape} |")
    return lines + [""]


def markdown(doc: dict[str, Any] | None = None) -> str:
    """``docs/rest.md``: the reference page, generated from :func:`openapi`."""
    doc = doc or openapi()
    out = [
        "# REST reference",
        "",
        "<!-- Generated by `python -m streamer.server.reference` from streamer/server/reference.py; "
        "do not edit by hand. -->",
        "",
        doc["info"]["description"],
        "",
        "The machine-readable form is `GET /openapi.json` (also `docs/openapi.json`).",
        "",
        "Uploading a timeline that plays audio takes two requests: `POST /audio` with the file, then "
        "`POST /timelines` (or `PUT /timelines/{id}`) with `audio.id` set to the id it returned. "
        "`streamer play TIMELINE.json` does both, then plays it.",
        "",
    ]
    for tag in doc["tags"]:
        out += [f"## {tag['name'].capitalize()}", "", tag["description"], ""]
        for path, item in doc["paths"].items():
            for method in METHODS:
                op = item.get(method)
                if op is not None and op["tags"][0] == tag["name"]:
                    out += _operation_md(method, path, op)
    out += ["## Schemas", ""]
    for name, schema in doc["components"]["schemas"].items():
        out += [f"### {name}", ""]
        if schema.get("description"):
            out += [schema["description"], ""]
        fields = _fields(schema)
        out += (fields or [f"{_type_of(schema)}"]) + [""]
    return "\n".join(out).rstrip() + "\n"


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

    docs = Path(__file__).resolve().parents[2] / "docs"
    (docs / "openapi.json").write_text(json.dumps(openapi(), indent=1) + "\n", encoding="utf-8")
    (docs / "rest.md").write_text(markdown(), encoding="utf-8")
    print(f"wrote {docs / 'openapi.json'} and {docs / 'rest.md'}")


if __name__ == "__main__":
    main()
