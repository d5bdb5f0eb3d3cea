"""``streamer record``: record what a channel of a running server airs, as a stored timeline (I/O)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any

from streamer import remote
from streamer.core.errors import StreamerError
from streamer.settings import Settings

MAX_SECONDS = 3600  # a recording's timeline may last an hour


def cmd_record(args: argparse.Namespace, settings: Settings) -> int:
    if args.seconds is not None and not 0 < args.seconds <= MAX_SECONDS:
        raise StreamerError(f"record: --seconds must be in (0, {MAX_SECONDS}], got {args.seconds:g}")
    server, channel, token = args.server.rstrip("/"), args.channel, settings.token
    if args.id and remote.timeline_exists(server, args.id):  # known now, not after the recording
        raise StreamerError(f"record: timeline {args.id!r} already exists on {server} (choose another --id)")
    started = remote.record(server, channel, {"action": "start"}, token)
    until = "Ctrl-C stops" if args.seconds is None else f"for {args.seconds:g} s"
    if not args.quiet:
        print(f"recording channel {channel!r} at {server} ({until})", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the recording: what aired so far is stored
        time.sleep(MAX_SECONDS if args.seconds is None else args.seconds)
    stop: dict[str, Any] = {"action": "stop"}
    if args.id:
        stop["timeline_id"] = args.id
    if args.name:
        stop["name"] = args.name
    result = remote.record(server, channel, stop, token)
    seconds = result.get("duration_ms", 0) / 1000
    print(result["timeline_id"])
    if not args.quiet:
        audio = "with its audio" if result.get("audio_id") else "no audio aired"
        print(
            f"recorded {seconds:.1f} s from server time {started.get('start_ms')} as timeline "
            f'{result["timeline_id"]!r} ({audio}); export it with POST /exports {{"timeline_id": ...}} '
            "or from the preview page",
            file=sys.stderr,
        )
    return 0


def add_commands(sub: Any) -> None:
    rec = sub.add_parser("record", help="record what a channel of a running server airs, as a stored timeline")
    rec.add_argument("--channel", default="main", help="the channel (default %(default)s)")
    rec.add_argument("--seconds", type=float, help="stop after this long (default: when you press Ctrl-C)")
    rec.add_argument("--id", help="the stored timeline's id (default: made from its name)")
    rec.add_argument("--name", help="the stored timeline's name (default: '<channel> recording')")
    rec.add_argument(
        "--server", default="http://127.0.0.1:8000", help="the server (default %(default)s; token: STREAMER_TOKEN)"
    )
    rec.add_argument("-q", "--quiet", action="store_true", help="print only the timeline id")
    rec.set_defaults(func=cmd_record)
