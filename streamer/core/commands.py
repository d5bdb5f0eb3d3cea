"""Live channel commands: every field of every command checked in one place (pure, no I/O).

A command arrives as a JSON object (a WebSocket message or a REST body) and leaves as a typed
value; a bad field raises :class:`CommandError` naming it. What needs the rig (an expression or
pose it lacks, an unreachable state) is checked by :class:`~streamer.core.channel.Channel`
when the command is applied, and what needs storage (a timeline id that does not exist) by the
server when it loads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from streamer.core.errors import CommandError
from streamer.core.reactions import DIRECTIONS, MAX_HOLD_MS, MIN_HOLD_MS, REACTIONS
from streamer.core.timeline import MAX_TRANSITION_MS

COMMANDS = ("play", "stop", "set", "say", "interrupt", "react", "record")
# say: the voice options a message may carry (checked by the speech layer, as POST /speech's are).
SAY_OPTIONS = ("voice", "rate_wpm", "pitch", "provider", "emotions", "lipsync")
MAX_SAY_TEXT = 10_000  # characters in one say message (a stream may have any number of them)
STREAM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
TIMELINE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # as the timeline store takes them
DEFAULT_SET_TRANSITION_MS = 300
# ``at_ms`` may lie this far in the past (it then starts as soon as possible) or in the future.
AT_MS_PAST_LIMIT_MS, AT_MS_FUTURE_LIMIT_MS = 10_000, 24 * 3600 * 1000


@dataclass(frozen=True)
class Play:
    """Play a stored timeline (``timeline_id``) or an inline one (``timeline``, a JSON document)."""

    timeline_id: str | None
    timeline: Any
    at_ms: int | None
    rig: str | None = None  # switch the channel to this rig first


@dataclass(frozen=True)
class Set:
    """Head for an expression and/or a pose."""

    expr: str | None
    pose: str | None
    transition_ms: int
    rig: str | None = None  # switch the channel to this rig first


@dataclass(frozen=True)
class Stop:
    """End the program and go home."""


@dataclass(frozen=True)
class Say:
    """Speak ``text``, part of ``stream`` (``final`` when it is the stream's last part; a new stream without an id)."""

    text: str
    stream: str | None
    final: bool
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Interrupt:
    """Stop speaking now: drop what is queued, close the mouth."""


@dataclass(frozen=True)
class React:
    """Layer a short reaction over whatever plays (checked against the rig by the channel)."""

    reaction: str
    expr: str | None = None  # for "expression"
    duration_ms: int | None = None  # how long "expression" and "look_away" hold
    direction: str | None = None  # for "look_away"


@dataclass(frozen=True)
class Record:
    """Start recording what the channel airs, or stop and store it as a timeline (``timeline_id``, ``name``)."""

    action: str
    timeline_id: str | None = None
    name: str | None = None


Command = Play | Set | Stop | Say | Interrupt | React | Record


def parse_command(kind: str, body: dict[str, Any], now_ms: int) -> Command:
    """The command ``kind`` with the fields of ``body``; ``now_ms`` bounds ``at_ms``."""
    if kind == "play":
        return _play(body, now_ms)
    if kind == "set":
        return _set(body)
    if kind == "stop":
        return Stop()
    if kind == "say":
        return _say(body)
    if kind == "interrupt":
        return Interrupt()
    if kind == "react":
        return _react(body)
    if kind == "record":
        return _record(body)
    raise CommandError(f"unknown command {kind[:40]!r} ({', '.join(COMMANDS)})")


def _play(body: dict[str, Any], now_ms: int) -> Play:
    at_ms = parse_at_ms(body.get("at_ms"), now_ms)
    rig = _optional_str(body, "rig")
    timeline_id = body.get("timeline_id")
    if timeline_id is not None:
        if not isinstance(timeline_id, str):
            raise CommandError(f"timeline_id: must be a string, got {timeline_id!r}")
        return Play(timeline_id, None, at_ms, rig)
    if "timeline" in body:
        return Play(None, body["timeline"], at_ms, rig)
    raise CommandError("play needs timeline_id or timeline")


def _set(body: dict[str, Any]) -> Set:
    expr, pose, rig = _optional_str(body, "expr"), _optional_str(body, "pose"), _optional_str(body, "rig")
    if expr is None and pose is None and rig is None:
        raise CommandError("set needs expr, pose and/or rig")
    ms = body.get("transition_ms", DEFAULT_SET_TRANSITION_MS)
    if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= MAX_TRANSITION_MS:
        raise CommandError(f"transition_ms: must be an integer in [0, {MAX_TRANSITION_MS}], got {ms!r}")
    return Set(expr, pose, ms, rig)


def _say(body: dict[str, Any]) -> Say:
    text = body.get("text")
    if not isinstance(text, str):
        raise CommandError("text: is required (a string)")
    if len(text) > MAX_SAY_TEXT:
        raise CommandError(f"text: {len(text)} characters is over the limit of {MAX_SAY_TEXT} per message")
    stream = _optional_str(body, "stream")
    if stream is not None and not STREAM_ID.fullmatch(stream):
        raise CommandError(f"stream: must be 1-64 letters, digits, '_' or '-', got {stream[:80]!r}")
    final = body.get("final", True)
    if not isinstance(final, bool):
        raise CommandError(f"final: must be true or false, got {final!r}")
    options = {k: body[k] for k in SAY_OPTIONS if k in body}
    return Say(text, stream, final, options)


def _react(body: dict[str, Any]) -> React:
    reaction = body.get("reaction")
    if reaction not in REACTIONS:
        raise CommandError(f"reaction: must be one of {', '.join(REACTIONS)}, got {str(reaction)[:40]!r}")
    expr, direction = _optional_str(body, "expr"), _optional_str(body, "direction")
    if reaction == "expression" and expr is None:
        raise CommandError("expr: is required for the reaction expression (an expression of the rig)")
    if reaction != "expression" and expr is not None:
        raise CommandError(f"expr: only the reaction expression takes one, not {reaction}")
    if direction is not None and (reaction != "look_away" or direction not in DIRECTIONS):
        raise CommandError(f"direction: look_away takes one of {', '.join(DIRECTIONS)}, got {direction[:40]!r}")
    ms = body.get("duration_ms")
    if ms is not None:
        if reaction not in ("expression", "look_away"):
            raise CommandError(f"duration_ms: only expression and look_away take one, not {reaction}")
        if isinstance(ms, bool) or not isinstance(ms, int) or not MIN_HOLD_MS <= ms <= MAX_HOLD_MS:
            raise CommandError(f"duration_ms: must be an integer in [{MIN_HOLD_MS}, {MAX_HOLD_MS}], got {ms!r}")
    return React(reaction, expr, ms, direction)


def _record(body: dict[str, Any]) -> Record:
    action = body.get("action")
    if action not in ("start", "stop"):
        raise CommandError(f"action: must be 'start' or 'stop', got {str(action)[:40]!r}")
    timeline_id, name = _optional_str(body, "timeline_id"), _optional_str(body, "name")
    if action == "start" and (timeline_id is not None or name is not None):
        raise CommandError("timeline_id, name: are given when the recording stops, not when it starts")
    if timeline_id is not None and not TIMELINE_ID.fullmatch(timeline_id):
        raise CommandError(f"timeline_id: must match [a-z0-9][a-z0-9_-]{{0,63}}, got {timeline_id[:80]!r}")
    if name is not None and not 0 < len(name) <= 200:
        raise CommandError("name: must be 1-200 characters")
    return Record(action, timeline_id, name)


def _optional_str(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise CommandError(f"{field}: must be a string, got {value!r}")
    return value


def parse_at_ms(at_ms: Any, now_ms: int) -> int | None:
    """A valid ``at_ms``: an integer server time from 10 s ago to 24 h ahead, or None."""
    if at_ms is None:
        return None
    lo, hi = max(0, now_ms - AT_MS_PAST_LIMIT_MS), now_ms + AT_MS_FUTURE_LIMIT_MS
    if isinstance(at_ms, bool) or not isinstance(at_ms, int) or not lo <= at_ms <= hi:
        shown = repr(at_ms) if not isinstance(at_ms, int) or abs(at_ms) < 10**20 else "a huge integer"
        raise CommandError(
            f"at_ms: must be an integer server time in [{lo}, {hi}] (now is {now_ms}: from 10 s ago to 24 h ahead), "
            f"got {shown}"
        )
    return at_ms
