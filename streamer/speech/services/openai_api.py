"""The OpenAI client for one call and the translation of its errors (I/O: HTTPS, through the official SDK).

The client is built from :class:`~streamer.settings.Settings` only (key, base URL, an explicit
timeout and retry count: the SDK's own defaults are a 10-minute timeout and 2 retries) and
closed after the call. SDK errors become :class:`~streamer.speech.errors.ProviderError` here,
once, naming the status.
"""

from __future__ import annotations

from typing import Any

from streamer.settings import Settings
from streamer.speech.errors import ProviderError, ProviderUnavailable
from streamer.speech.services.failures import malformed, status_error, timeout_error

PROVIDER = "openai"
KEY_NAME = "OPENAI_API_KEY"
DEFAULT_BASE_URL = "https://api.openai.com/v1"


def openai_client(settings: Settings, timeout_s: float | None = None) -> Any:
    """A new ``openai.OpenAI`` client, to use in ``with``.

    Raises :class:`ProviderUnavailable` (naming ``provider``) when ``OPENAI_API_KEY`` is not set.
    """
    if not settings.openai_api_key:
        raise ProviderUnavailable(f"provider: 'openai' needs {KEY_NAME}, which is not set")
    from openai import OpenAI

    return OpenAI(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url or DEFAULT_BASE_URL,
        timeout=timeout_s if timeout_s is not None else settings.openai_timeout_ms / 1000,
        max_retries=settings.openai_max_retries,
    )


def translate_error(exc: Exception, timeout_s: float) -> ProviderError:
    """The :class:`ProviderError` for an exception raised by the OpenAI SDK."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return timeout_error(PROVIDER, timeout_s, "STREAMER_OPENAI_TIMEOUT_MS")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(PROVIDER, "unreachable", f"cannot reach the service: {exc}")
    if isinstance(exc, openai.APIStatusError):
        return status_error(PROVIDER, exc.status_code, dict(exc.response.headers), exc.body, KEY_NAME)
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return malformed(PROVIDER, str(exc)[:200])
    return ProviderError(PROVIDER, "unavailable", f"request failed: {str(exc)[:200]}")
