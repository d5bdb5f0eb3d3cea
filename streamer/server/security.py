"""Who may do what: the control token and the Origin check, shared by REST and WebSocket (no I/O).

Writes (and WebSocket controllers) need ``STREAMER_TOKEN`` when one is set, sent as
``Authorization: Bearer TOKEN`` or ``?token=TOKEN``. Requests from a browser carry an
``Origin`` that must be in ``CORS_ORIGINS`` (``*`` allows any); requests without one (bots,
curl) are allowed. The token is never logged or echoed.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Mapping

from starlette.requests import HTTPConnection

from streamer.core.errors import StreamerError
from streamer.settings import Settings


class Unauthorized(StreamerError):
    """A write or control request without a valid token (HTTP 401, WebSocket close 4001)."""


class Forbidden(StreamerError):
    """A request from an origin that is not allowed (HTTP 403, WebSocket close 1008)."""


def _presented(conn: HTTPConnection) -> bytes | None:
    # Header values arrive as latin-1 decoded bytes, query values as UTF-8 text: compare bytes.
    auth = conn.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip().encode("latin-1", errors="replace")
    query = conn.query_params.get("token")
    return query.encode("utf-8") if query else None


def presented_token(conn: HTTPConnection) -> str | None:
    """The token a request carries: the ``Authorization: Bearer`` header first, then ``?token=``."""
    raw = _presented(conn)
    return None if raw is None else raw.decode("utf-8", errors="replace")


def token_ok(conn: HTTPConnection, settings: Settings) -> bool:
    """Whether ``conn`` may write: always when no token is configured, else a constant-time match."""
    if settings.token is None:
        return True
    presented = _presented(conn)
    if presented is None:
        return False
    return hmac.compare_digest(presented, settings.token.encode("utf-8"))


def require_token(conn: HTTPConnection, settings: Settings) -> None:
    """Raise :class:`Unauthorized` unless ``conn`` carries the configured token (if any)."""
    if not token_ok(conn, settings):
        if _presented(conn) is None:
            raise Unauthorized("this server requires a token: send Authorization: Bearer TOKEN or ?token=TOKEN")
        raise Unauthorized("invalid token")


def origin_allowed(headers: Mapping[str, str], settings: Settings) -> bool:
    """Whether the request's ``Origin`` (if any) is in ``CORS_ORIGINS``."""
    origin = headers.get("origin")
    if origin is None or settings.allow_any_origin:
        return True
    return origin.rstrip("/").lower() in {o.lower() for o in settings.cors_origins}


def check_origin(headers: Mapping[str, str], settings: Settings) -> None:
    """Raise :class:`Forbidden` if the request's ``Origin`` is not allowed."""
    if not origin_allowed(headers, settings):
        raise Forbidden(f"origin {headers.get('origin', '')[:200]!r} is not allowed (see CORS_ORIGINS)")


_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"]*", re.IGNORECASE)


def redact_token(text: str) -> str:
    """``text`` with any ``token=`` query value replaced by ``***``."""
    return _TOKEN_IN_QUERY.sub(r"\1***", text)


class RedactTokenFilter(logging.Filter):
    """Hides ``?token=`` values in log records (install it on ``uvicorn.access``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_token(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_token(record.msg)
        return True
