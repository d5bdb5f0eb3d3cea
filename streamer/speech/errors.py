"""Every error the speech layer raises on purpose, in one tree (pure, no I/O).

Each is a :class:`~streamer.core.errors.StreamerError` whose message starts with the
offending field, line or provider. The whole tree of the project's errors, with the HTTP status
and WebSocket code each answers (mapped in ``server/errors.py``), is drawn once, in
``docs/architecture.md`` ("Errors"). Raised by speech code but defined in their own layer:
``PlanError`` (:mod:`streamer.core.emotion_plan`) and ``AudioError`` (:mod:`streamer.storage`).
"""

from __future__ import annotations

from streamer.core.errors import StreamerError, TimelineError


class SpeechError(StreamerError):
    """Speech synthesis or audio encoding failed (engine missing, library error)."""


class SpeechInputError(SpeechError, ValueError):
    """A bad argument to a speech call: empty text, unknown voice, rate or pitch out of range."""


class ProviderUnavailable(SpeechInputError):
    """A speech or planning provider was asked for but is not configured (its API key is not set)."""


class ProviderError(SpeechError):
    """An external speech or planning service (ElevenLabs, OpenAI) failed; the message says why.

    ``provider`` names the service; ``reason`` is one of ``timeout``, ``unreachable``,
    ``unauthorized``, ``rate_limited``, ``unavailable`` (5xx), ``rejected`` (other 4xx),
    ``malformed`` (an answer we cannot use), ``refused``, ``truncated``; ``status`` is the
    service's HTTP status when it answered; ``retry_after_s`` its advice, when it gave one.
    """

    def __init__(
        self, provider: str, reason: str, detail: str, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        self.provider, self.reason, self.status, self.retry_after_s = provider, reason, status, retry_after_s
        super().__init__(f"{provider}: {detail}")


class FormatError(StreamerError, ValueError):
    """A lip-sync, alignment or caption file that cannot be read or written; the message names the line or field."""


class TextGridError(FormatError):
    """A Praat TextGrid that cannot be read."""


class RhubarbError(FormatError):
    """A Rhubarb Lip Sync JSON or TSV file that cannot be read."""


class TimingError(StreamerError, ValueError):
    """Timings that cannot be used (lengths differ, times negative or not numbers); names the field."""


class NothingToExport(TimelineError):
    """The timeline lacks the track a format needs (no words for captions, no speech for lip-sync)."""
