"""The building blocks of the REST reference: schema and operation helpers, shared parameters (no I/O)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

# -- schemas -------------------------------------------------------------------------------


def obj(required: str = "", optional: bool = False, **props: Schema) -> Schema:
    """An object schema; ``required`` is a space-separated list (default: every property)."""
    names = required.split() if required else ([] if optional else list(props))
    return {"type": "object", "required": names, "properties": props}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


INT = {"type": "integer"}
STR = {"type": "string"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
MS = {"type": "integer", "description": "milliseconds"}
STATE = obj(expr=STR, pose=STR)
RIG_ID = {"type": "string", "description": "a rig id from GET /rigs (`default`, or a folder of STREAMER_RIGS_DIR)"}

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
    "422": "the body is not the JSON object the route takes, or the document or upload does not validate "
    "(the message names the field)",
    "429": "busy: too much work at once or queued; Retry-After says when to try again",
    "503": "a store or engine is unavailable (Retry-After says when to try again)",
}


def content(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def param(name: str, where: str, description: str, schema: Schema = STR, required: bool | None = None) -> Schema:
    return {
        "name": name,
        "in": where,
        "required": where == "path" if required is None else required,
        "description": description,
        "schema": schema,
    }


def op(
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
        out["responses"][code] = content(ref("Error"), ERRORS[code])
    if write:
        out["security"] = [{"token": []}, {}]
    return out


def request_body(schema: Schema, description: str = "", media: str = JSON) -> Schema:
    out: Schema = {"required": True, "content": {media: {"schema": schema}}}
    if description:
        out["description"] = description
    return out


TIMELINE_ID = param("id", "path", "timeline id, `[a-z0-9][a-z0-9_-]{0,63}`")
CHANNEL = param("name", "path", "channel name, `[a-z0-9][a-z0-9_-]{0,63}`; created on first use")
EXPORT_ID = param("id", "path", "export job id (from POST /exports)")
NAME = param("name", "query", "the timeline's human name (at most 120 characters)", required=False)
RIG = param("rig", "query", "check it against this rig (a rig id; default: the default rig)", required=False)
TEXT = {"type": "string"}
SEC_SERVICE, SEC_FRAMES, SEC_TIMELINES, SEC_AUDIO = "service", "rig and frames", "timelines", "audio"
SEC_CHANNELS, SEC_EXPORTS, SEC_SPEECH, SEC_CLIENT = "channels", "exports", "speech", "browser client"


def channel_command(
    summary: str, description: str, body: Schema, result: str, errors: str = "400 404 413 422"
) -> Schema:
    return {
        "post": op(
            summary,
            SEC_CHANNELS,
            {"200": content(ref(result), "the same `result` as the WebSocket `ack`")},
            description=description,
            params=(CHANNEL,),
            body=body,
            errors=errors,
            write=True,
        )
    }
