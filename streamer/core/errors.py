"""The exception tree shared by every layer (pure, no I/O).

::

    StreamerError
    ├── InvalidKey (ValueError)                    a frame key that is not a safe relative path
    ├── RigError (ValueError)                      a rig that fails validation (all problems listed)
    ├── TimelineError (ValueError)                 a timeline that fails parsing or validation
    ├── UnreachableError (ValueError)              no route between two states of a rig
    ├── CommandError (ValueError)                  a live command with a bad field
    ├── Conflict (ValueError)                      a request the channel's state does not allow now
    ├── NotFound (LookupError)                     a named thing (frame, timeline, ...) is missing
    └── StoreUnavailable (ConnectionError)         a frame store is throttling, down or too slow

Messages are lowercase and name the offending field and value.
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
