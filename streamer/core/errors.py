"""The core's exceptions, the root of every layer's (pure, no I/O).

The tree of all the project's errors, with the HTTP status and WebSocket code each answers, is
drawn once, in ``docs/architecture.md`` ("Errors"). Messages are lowercase and name the
offending field and value.
"""

from __future__ import annotations


class StreamerError(Exception):
    """Root of every error this project raises on purpose."""


class InvalidKey(StreamerError, ValueError):
    """A frame key (or other stored path) is not a safe relative POSIX path."""


class RigError(StreamerError, ValueError):
    """A rig failed validation; ``problems`` lists every problem found, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        head = self.problems[0] if self.problems else "invalid rig"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(head + more)


class TimelineError(StreamerError, ValueError):
    """A timeline failed parsing or validation."""


class UnreachableError(StreamerError, ValueError):
    """No sequence route connects two states of the rig."""


class CommandError(StreamerError, ValueError):
    """A live channel command names something the rig lacks or has a bad field."""


class Conflict(StreamerError, ValueError):
    """A request that the current state does not allow (stop a recording that is not running)."""


class NotFound(StreamerError, LookupError):
    """A named thing (frame, timeline, audio, channel) does not exist."""


class StoreUnavailable(StreamerError, ConnectionError):
    """A frame store (S3) is throttling, unreachable or too slow; retrying later may work."""
