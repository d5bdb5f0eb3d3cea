"""The REST reference's operations for channels, exports and speech (no I/O)."""

from __future__ import annotations

from streamer.server.reference.schema import (
    CHANNEL,
    EXPORT_ID,
    JSON,
    SEC_CHANNELS,
    SEC_EXPORTS,
    SEC_SPEECH,
    STR,
    Schema,
    channel_command,
    content,
    obj,
    op,
    param,
    ref,
    request_body,
)

LIVE_PATHS: dict[str, Schema] = {
    "/channels/{name}": {
        "get": op(
            "A channel's state, rig, program and viewer count",
            SEC_CHANNELS,
            {"200": content(ref("Channel"), "the channel")},
            params=(CHANNEL,),
            errors="404",
        )
    },
    "/channels/{name}/play": channel_command(
        "Play a timeline on a channel",
        "Replaces a program that is playing. The WebSocket `play` command, for bots.",
        request_body(ref("PlayRequest")),
        "Program",
    ),
    "/channels/{name}/stop": channel_command(
        "Stop the channel's program",
        "The WebSocket `stop` command. The body may be empty.",
        {"required": False, "description": "optional: empty or `{}`", "content": {JSON: {"schema": obj()}}},
        "Stopped",
    ),
    "/channels/{name}/set": channel_command(
        "Move the character to an expression and/or pose, or switch the channel's rig",
        "The WebSocket `set` command; ends a program that is playing. With `rig`, every viewer switches to that rig "
        "(400 for a rig GET /rigs does not list).",
        request_body(ref("SetRequest")),
        "SetResult",
    ),
    "/channels/{name}/say": channel_command(
        "Say text live on a channel",
        "The WebSocket `say` command: the text is cut into segments, each spoken while the one before it "
        "plays and placed where its audio ends. Also takes a chunked `text/plain` body, said as it arrives, "
        "with the options and `stream` in the query string.",
        {
            "required": True,
            "content": {
                JSON: {"schema": ref("SayRequest")},
                "text/plain": {"schema": {"type": "string", "description": "the text, streamed"}},
            },
        },
        "SayResult",
    ),
    "/channels/{name}/interrupt": channel_command(
        "Stop speaking now",
        "The WebSocket `interrupt` command: queued text is dropped, synthesis cancelled, the mouth closes.",
        {"required": False, "description": "optional: empty or `{}`", "content": {JSON: {"schema": obj()}}},
        "Interrupted",
    ),
    "/channels/{name}/react": channel_command(
        "React: nod, shake, blink, look away, or hold an expression",
        "The WebSocket `react` command: a short reaction layered over whatever plays (the program and the "
        "voice go on, the mouth stays the speech's), then the face comes back. 400 for a pose or expression "
        "the rig lacks.",
        request_body(ref("ReactRequest")),
        "Reacted",
    ),
    "/channels/{name}/record": channel_command(
        "Record what a channel airs, as a stored timeline",
        "The WebSocket `record` command. `start` records from now; `stop` stores the frames as they aired (a "
        "`frames` track, so it exports frame-identically), the audio mixed into one track and the commands, and "
        "answers the `timeline_id`. 409 for a `start` while recording, a `stop` when not, or a taken `timeline_id`.",
        request_body(ref("RecordRequest")),
        "Recorded",
        errors="400 404 409 413 422",
    ),
    "/exports": {
        "post": op(
            "Start rendering a timeline to video",
            SEC_EXPORTS,
            {"202": content(ref("ExportJob"), "queued; poll Location or watch it over the WebSocket")},
            body=request_body(ref("ExportRequest"), "exactly one of `timeline_id` or `timeline`"),
            errors="400 404 413 422 429",
            write=True,
        )
    },
    "/exports/formats": {
        "get": op(
            "The export formats",
            SEC_EXPORTS,
            {"200": content({"type": "array", "items": ref("ExportFormat")}, "every format, the default first")},
        )
    },
    "/exports/{id}": {
        "get": op(
            "An export job",
            SEC_EXPORTS,
            {"200": content(ref("ExportJob"), "the job")},
            params=(EXPORT_ID,),
            errors="404",
        ),
        "delete": op(
            "Cancel a running export, or forget a finished one",
            SEC_EXPORTS,
            {"200": content(ref("ExportJob"), "cancelled"), "204": {"description": "forgotten"}},
            params=(EXPORT_ID,),
            errors="404",
            write=True,
        ),
    },
    "/exports/{id}/file": {
        "get": op(
            "The rendered video",
            SEC_EXPORTS,
            {
                "200": {"description": "the file (attachment; `?inline=1` to play it in the page)"},
                "307": {"description": "with STREAMER_DATA_URL: to a presigned S3 URL of the file"},
            },
            params=(EXPORT_ID, param("inline", "query", "1 or true: show rather than download", required=False)),
            errors="404 409",
        ),
        "head": op(
            "The rendered video's headers",
            SEC_EXPORTS,
            {"200": {"description": "size and type, no body"}},
            params=(EXPORT_ID,),
            errors="404 409",
        ),
    },
    "/speech": {
        "post": op(
            "Say a line: speech audio, lip-sync and emotions as a stored timeline",
            SEC_SPEECH,
            {"201": content(ref("SpeechResult"), "stored; play `timeline_id` on a channel")},
            description="The timeline is named after the text.",
            body=request_body(ref("SpeechRequest")),
            errors="400 413 422 429 503",
            write=True,
        )
    },
    "/speech/voices": {
        "get": op(
            "The offline voices",
            SEC_SPEECH,
            {"200": content({"type": "array", "items": ref("Voice")}, "espeak-ng voices, as `streamer voices` lists")},
        )
    },
    "/emotions": {
        "post": op(
            "Plan an emotion track for timed words",
            SEC_SPEECH,
            {"200": content(ref("EmotionsResult"), "the plan")},
            body=request_body(ref("EmotionsRequest")),
            errors="400 413 422 429 503",
            write=True,
        )
    },
    "/align": {
        "post": op(
            "Lip-sync a recording (with or without its transcript) as a stored timeline",
            SEC_SPEECH,
            {"201": content(ref("AlignResult"), "stored; the timeline is named after the file")},
            body=request_body(
                obj(
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
