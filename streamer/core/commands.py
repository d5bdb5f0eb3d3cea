"""Live channel commands: every field of every command checked in one place (pure, no I/O).

A command arrives as a JSON object (a WebSocket message or a REST body) and leaves as a typed
value; a bad field raises :class:`CommandError` naming it. What needs the rig (an expression or
pose it lacks, an unreachable state) is checked by :class:`~streamer.core.channel.Channel`
when the command is applied, and what needs storage (a timeline id that does not exist) by the
server when it loads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamer.core.errors import CommandError
from streamer.core.timeline import MAX_TRANSITION_MS

COMMANDS = ("play", "stop", "set")
DEFAULT_SET_TRANSITION_MS = 300
# ``at_ms`` may lie this far in the past (it then starts as soon as possible) or in the future.
AT_MS_PAST_LIMIT_MS, AT_MS_FUTURE_LIMIT_MS = 10_000, 24 * 3600 * 1000


@dataclass(frozen=True)
class Play:
    """Play a stored timeline (``timeline_id``) or an inline one (``timeline``, a JSON document)."""

    timeline_id: str | None
    timeline: Any
    at_ms: int | None


@dataclass(frozen=True)
class Set:
    """Head for an expression and/or a pose."""

    expr: str | None
    pose: str | None
    transition_ms: int


@dataclass(frozen=True)
class Stop:
    """End the program and go home."""


Command = Play | Set | Stop


def parse_command(kind: str, body: dict[str, Any], now_ms: int) -> Command:
    """The command ``kind`` with the fields of ``body``; ``now_ms`` bounds ``at_ms``."""
    if kind == "play":
        return _play(body, now_ms)
    if kind == "set":
        return _set(body)
    if kind == "stop":
        return Stop()
    raise CommandError(f"unknown command {kind[:40]!r} ({', '.join(COMMANDS)})")


def _play(body: dict[str, Any], now_ms: int) -> Play:
    at_ms = parse_at_ms(body.get("at_ms"), now_ms)
    timeline_id = body.get("timeline_id")
    if timeline_id is not None:
        if not isinstance(timeline_id, str):
            raise CommandError(f"timeline_id: must be a string, got {timeline_id!r}")
        return Play(timeline_id, None, at_ms)
    if "timeline" in body:
        return Play(None, body["timeline"], at_ms)
    raise CommandError("play needs timeline_id or timeline")


def _set(body: dict[str, Any]) -> Set:
    expr, pose = _optional_str(body, "expr"), _optional_str(body, "pose")
    if expr is None and pose is None:
        raise CommandError("set needs expr and/or pose")
    ms = body.get("transition_ms", DEFAULT_SET_TRANSITION_MS)
    if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= MAX_TRANSITION_MS:
        raise CommandError(f"transition_ms: must be an integer in [0, {MAX_TRANSITION_MS}], got {ms!r}")
    return Set(expr, pose, ms)


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
