"""What a failed call to a speech or planning service means, as a :class:`ProviderError` (pure, no I/O).

Both SDKs report an HTTP status, the response headers and a body; this module turns them into
one readable message that names the provider and the status and says what to do (check the
key, wait and retry, try later), so the ElevenLabs and OpenAI adapters translate errors once,
the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from streamer.speech.errors import ProviderError

_MAX_DETAIL = 200


def detail_of(body: Any) -> str:
    """The human part of an error body: ``{"detail": {"message"}}`` (ElevenLabs), ``{"error": {"message"}}``
    (OpenAI), a plain string; shortened, on one line."""
    found: Any = body
    for _ in range(3):
        if isinstance(found, Mapping):
            found = next(
                (found[k] for k in ("message", "detail", "error", "msg") if found.get(k) not in (None, "", {})), None
            )
        elif isinstance(found, list) and found:
            found = found[0]
        else:
            break
    text = found if isinstance(found, str) else ("" if found is None or body is None else str(body))
    text = " ".join(text.split())
    return text[:_MAX_DETAIL] + ("..." if len(text) > _MAX_DETAIL else "")


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds); ``None`` when absent or odd."""
    if not headers:
        return None
    lower = {str(k).lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            value = float(lower[name]) * scale
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(value) and value >= 0:
            return value
    return None


def status_error(
    provider: str, status: int, headers: Mapping[str, str] | None, body: Any, key_name: str
) -> ProviderError:
    """The error for an HTTP ``status`` answer from ``provider`` (``key_name`` is the env var of its key)."""
    detail = detail_of(body)
    suffix = f": {detail}" if detail else ""
    if status in (401, 403):
        return ProviderError(provider, "unauthorized", f"unauthorized ({status}): check {key_name}{suffix}", status)
    if status == 429:
        wait = retry_after_s(headers)
        advice = f"retry in {math.ceil(wait)} s" if wait is not None else "retry in a little while"
        return ProviderError(
            provider,
            "rate_limited",
            f"rate limited (429): {advice}, or lower the request rate (quota or concurrency limit){suffix}",
            status,
            wait,
        )
    if status >= 500:
        return ProviderError(provider, "unavailable", f"service error ({status}), try again later{suffix}", status)
    if 200 <= status < 300:
        return ProviderError(provider, "malformed", f"malformed response ({status}){suffix}", status)
    return ProviderError(provider, "rejected", f"rejected the request ({status}){suffix}", status)


def timeout_error(provider: str, timeout_s: float, setting: str) -> ProviderError:
    """The error for a call that got no answer in ``timeout_s`` (``setting`` is the env var that sets it)."""
    return ProviderError(provider, "timeout", f"timed out after {timeout_s:g} s (raise {setting} if this repeats)")


def malformed(provider: str, detail: str) -> ProviderError:
    """The error for an answer we cannot use; ``detail`` names the field."""
    return ProviderError(provider, "malformed", f"malformed response: {detail}")
