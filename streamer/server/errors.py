"""The server layer's exceptions, and the one mapping of every layer's errors to HTTP and WebSocket (no I/O).

The tree of all the project's errors, with these statuses and codes, is drawn once, in
``docs/architecture.md`` ("Errors"). A new error is a subclass in the layer that raises it;
it answers what its nearest mapped ancestor answers, unless it gets a row here.
"""

from __future__ import annotations

from streamer.core.errors import (
    CommandError,
    Conflict,
    InvalidKey,
    NotFound,
    RigError,
    StoreUnavailable,
    StreamerError,
    TimelineError,
    UnreachableError,
)
from streamer.export.errors import DiskFull, ExportBusy, ExportError, ExportNotReady
from streamer.rigset import UnknownRig
from streamer.settings import ConfigError
from streamer.speech.errors import ProviderError, SpeechError, SpeechInputError
from streamer.storage import AlreadyExists, AudioError, PayloadTooLarge, StaleWrite

# -- the server's own errors ------------------------------------------------------------------


class BodyError(StreamerError, ValueError):
    """A request body that is not what the route takes: not JSON, not an object, unknown fields."""


class EmptyBody(BodyError):
    """A JSON route got no body."""


class UnsupportedMediaType(StreamerError, ValueError):
    """A JSON route got a body that is not declared as JSON."""


class Unauthorized(StreamerError):
    """A write or control request without a valid token (WebSocket close 4001)."""


class Forbidden(StreamerError):
    """A request from an origin that is not allowed (WebSocket close 1008)."""


class Busy(StreamerError):
    """Too many heavy requests at once (with Retry-After)."""

    retry_after_s = 1


class SpeechBusy(StreamerError):
    """Too many speech requests are running or waiting."""


class ChannelLimit(StreamerError, ValueError):
    """A bad channel name, or too many channels."""


# -- HTTP ---------------------------------------------------------------------------------------

# Our errors -> HTTP status, looked up along the exception's MRO (most specific first).
# Any other StreamerError is a 400; anything else is a logged 500. Request bodies: one that
# cannot be read as the JSON object the route takes is 422 on every route (BodyError, and the
# document errors below); a bad value in a field is its layer's error.
ERROR_STATUS: dict[type[Exception], int] = {
    NotFound: 404,
    InvalidKey: 400,
    ConfigError: 400,
    CommandError: 400,
    RigError: 400,
    BodyError: 422,
    TimelineError: 422,
    UnreachableError: 422,
    AudioError: 422,
    AlreadyExists: 409,
    Conflict: 409,
    StaleWrite: 412,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    Unauthorized: 401,
    Forbidden: 403,
    StoreUnavailable: 503,
    ExportNotReady: 409,
    ExportBusy: 429,
    SpeechBusy: 429,
    Busy: 429,
    DiskFull: 507,
    ExportError: 422,
    SpeechInputError: 400,
    SpeechError: 503,  # the speech engine (espeak-ng, an encoder) failed: not the request's fault
    StreamerError: 400,
}
# An external service (ElevenLabs, OpenAI) failed, by ProviderError.reason: a timeout is 504,
# its rate limit 503 (with Retry-After), anything else 502.
PROVIDER_STATUS = {"timeout": 504, "rate_limited": 503}
PROVIDER_DEFAULT_STATUS = 502


def http_status(exc: Exception) -> int:
    """The HTTP status ``exc`` answers."""
    if isinstance(exc, ProviderError):
        return PROVIDER_STATUS.get(exc.reason, PROVIDER_DEFAULT_STATUS)
    return next((ERROR_STATUS[cls] for cls in type(exc).__mro__ if cls in ERROR_STATUS), 400)


# -- WebSocket ----------------------------------------------------------------------------------

# A command's error -> the ``code`` of the ``error`` message the controller gets (first match).
ERROR_CODES: list[tuple[type[Exception], str]] = [
    (UnknownRig, "unknown_rig"),
    (NotFound, "not_found"),
    (TimelineError, "invalid_timeline"),
    (UnreachableError, "invalid_timeline"),
    (CommandError, "bad_message"),
    (ChannelLimit, "bad_message"),
    (Conflict, "conflict"),
    (AlreadyExists, "conflict"),
    (StoreUnavailable, "store_unavailable"),  # with REDIS_URL: the channel's process did not answer
]
DEFAULT_CODE = "bad_message"


def ws_code(exc: Exception) -> str:
    """The WebSocket ``error`` code for a command that raised ``exc``."""
    return next((code for cls, code in ERROR_CODES if isinstance(exc, cls)), DEFAULT_CODE)
