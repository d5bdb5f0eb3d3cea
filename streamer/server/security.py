"""Who may do what: the control token and the Origin check, shared by REST and WebSocket (no I/O).

Writes (and WebSocket controllers) need ``STREAMER_TOKEN`` when one is set, sent as
``Authorization: Bearer TOKEN``, ``?token=TOKEN`` or (WebSocket) a first ``auth`` message.
Requests from a browser carry an ``Origin``. Reads are allowed from the origins in
``CORS_ORIGINS`` (``*``, the default, allows any). Writes are allowed only from the server's
own origin or an origin listed by name in ``CORS_ORIGINS`` (``*`` does not count), so that
no other web page can drive the character, token or not. Requests without an ``Origin``
(bots, curl, OBS) are allowed. The token is never logged or echoed (see
:func:`install_log_redaction`).
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import HTTPConnection

from streamer.server.errors import Forbidden, Unauthorized
from streamer.settings import Settings


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


def token_matches(presented: str, settings: Settings) -> bool:
    """Whether a token sent in a message is the configured one (any token when none is set)."""
    if settings.token is None:
        return True
    raw = presented.encode("utf-8", errors="replace")
    return hmac.compare_digest(raw, settings.token.encode("utf-8"))


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


def write_origin_allowed(headers: Mapping[str, str], settings: Settings) -> bool:
    """Whether a write (or a WebSocket controller) may come from the request's ``Origin``.

    Allowed: no ``Origin`` (not a browser), the server's own origin (its host as the browser
    addressed it, in the ``Host`` header), or an origin listed by name in ``CORS_ORIGINS``.
    ``*`` only opens reads: a page elsewhere could otherwise post to a server on the
    viewer's own machine (a "no-cors" form post, or a WebSocket, needs no CORS permission).
    """
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    host = headers.get("host", "").strip().lower()
    _, sep, netloc = origin.partition("://")
    if sep and host and netloc == host:
        return True
    return origin in {o.lower() for o in settings.cors_origins if o != "*"}


def check_write_origin(headers: Mapping[str, str], settings: Settings) -> None:
    """Raise :class:`Forbidden` unless a write may come from the request's ``Origin``."""
    if not write_origin_allowed(headers, settings):
        raise Forbidden(
            f"origin {headers.get('origin', '')[:200]!r} may not send commands or writes to this server: "
            "only its own pages and origins listed in CORS_ORIGINS may ('*' allows reading only)"
        )


# Where a token (right or a wrong guess) can show up in a log line: a query string, an
# Authorization header (websockets logs handshakes at DEBUG), an ``auth`` message's JSON.
_TOKEN_PATTERNS = (
    re.compile(r"([?&]token=)[^&\s\"']*", re.IGNORECASE),
    re.compile(r"(authorization['\"]?\s*[:=,]\s*['\"]?\s*(?:bearer|basic)\s+)[^\s'\"\\]*", re.IGNORECASE),
    re.compile(r"(\\?['\"]token\\?['\"]\s*:\s*\\?['\"])[^'\"\\]*", re.IGNORECASE),
)


def redact_token(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with token values (query, header, ``auth`` message) and each of ``secrets`` as ``***``."""
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(r"\1***", text)
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text


_redacted_secrets: tuple[str, ...] = ()
_base_factory: Callable[..., logging.LogRecord] | None = None


def install_log_redaction(token: str | None) -> None:
    """Redact ``?token=`` values and the configured token from every log record of the process.

    A record factory (not a filter) so that it covers every logger and handler at every
    level, uvicorn's own included (which logs WebSocket paths with their query strings).
    Each string argument is redacted in place, so formatters that read the arguments
    (uvicorn's access log) still work; a token the arguments only make together is
    redacted in the formatted message, which then replaces them.
    """
    global _redacted_secrets, _base_factory
    _redacted_secrets = (token,) if token else ()
    if _base_factory is not None:
        return
    base = _base_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logging's own error to report
            return record
        redacted = redact_token(message, _redacted_secrets)
        if redacted == message:
            return record
        if isinstance(record.args, tuple):
            record.args = tuple(redact_token(a, _redacted_secrets) if isinstance(a, str) else a for a in record.args)
            if record.getMessage() == redacted:
                return record
        record.msg, record.args = redacted, None
        return record

    logging.setLogRecordFactory(factory)
