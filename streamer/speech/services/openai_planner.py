"""Emotion planning with OpenAI chat completions and a strict JSON schema, falling back to the rules (I/O: HTTPS).

The model answers changes of expression anchored to word indices, in a schema whose
``enum`` is the rig's emotional expressions (:mod:`streamer.core.emotion_plan`); the answer
is checked again and snapped to word times under the offline rules' constraints. A refusal,
a truncated answer (``finish_reason == "length"``), invalid JSON, a schema violation, a
timeout, a 429 or any other failure makes :func:`choose_emotions` use the offline rules
instead and say so (``provider: "rules"``, ``fallback: "openai: <reason>"``).

Public API::

    plan_emotions_openai(words, expressions, text, settings, end_ms=None) -> list[dict]   raises ProviderError
    choose_emotions(words, expressions, text, provider, settings, ...) -> EmotionPlan      never fails over
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamer.core.emotion_plan import (
    MAX_PLAN_WORDS,
    PLAN_NAME,
    PlanError,
    emotion_expressions,
    parse_plan,
    plan_messages,
    plan_schema,
    snap_plan,
)
from streamer.core.emotions import plan_emotions
from streamer.core.timeline import WordSpan
from streamer.settings import EMOTION_PROVIDERS, Settings
from streamer.speech.errors import ProviderError, SpeechInputError
from streamer.speech.services.failures import malformed
from streamer.speech.services.openai_api import PROVIDER, openai_client, translate_error

log = logging.getLogger(__name__)

# Room for the JSON of a plan with a change every few words.
MAX_COMPLETION_TOKENS = 4000


@dataclass(frozen=True)
class EmotionPlan:
    """An emotion track and who planned it; ``fallback`` says why the rules stood in for OpenAI."""

    emotion: list[dict[str, Any]] = field(default_factory=list)
    provider: str = "rules"
    fallback: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"provider": self.provider}
        if self.fallback is not None:
            out["fallback"] = self.fallback
        return out


def plan_emotions_openai(
    words: Sequence[WordSpan],
    expressions: Sequence[str],
    text: str | None,
    settings: Settings,
    *,
    end_ms: int | None = None,
) -> list[dict[str, Any]]:
    """An emotion track planned by ``settings.openai_model`` using only ``expressions`` (neutral included).

    Raises :class:`~streamer.speech.errors.ProviderUnavailable` without a key and
    :class:`ProviderError` for a failed call, a refusal (``refused``), a truncated answer
    (``truncated``) or an answer that breaks the schema (``malformed``).
    """
    timeout_s = settings.openai_timeout_ms / 1000
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": PLAN_NAME, "strict": True, "schema": plan_schema(expressions)},
    }
    import openai

    with openai_client(settings) as client:
        try:
            completion = client.chat.completions.create(
                model=settings.openai_model,
                messages=plan_messages(words, expressions, text),
                response_format=response_format,
                max_completion_tokens=MAX_COMPLETION_TOKENS,
            )
        except (openai.OpenAIError, ValueError) as exc:
            raise translate_error(exc, timeout_s) from exc
    choices = getattr(completion, "choices", None)
    if not choices:
        raise malformed(PROVIDER, "choices: empty")
    choice = choices[0]
    message = getattr(choice, "message", None)
    refusal = getattr(message, "refusal", None)
    if refusal:
        raise ProviderError(PROVIDER, "refused", f"the model refused: {' '.join(str(refusal).split())[:200]}")
    if choice.finish_reason == "length":
        raise ProviderError(PROVIDER, "truncated", "the answer was cut off (finish_reason length)")
    if choice.finish_reason == "content_filter":
        raise ProviderError(PROVIDER, "refused", "the answer was withheld by the content filter")
    content = getattr(message, "content", None)
    if not isinstance(content, str):
        raise malformed(PROVIDER, "choices[0].message.content: missing")
    try:
        changes = parse_plan(content, expressions, len(words))
    except PlanError as exc:
        raise malformed(PROVIDER, f"the plan breaks the schema: {exc}") from None
    return snap_plan(changes, words, end_ms=end_ms)


def choose_emotions(
    words: Sequence[WordSpan],
    expressions: Iterable[str],
    text: str | None,
    provider: str,
    settings: Settings | None,
    *,
    exclude: Iterable[str] = (),
    end_ms: int | None = None,
    field_name: str = "provider",
    language: str | None = None,
) -> EmotionPlan:
    """Plan with ``provider`` (``rules``, ``openai``, or ``auto``: OpenAI when its key is set).

    ``exclude`` are rig expressions a plan must not use (mouth shapes, blinks). Only a bad
    ``provider`` or ``openai`` without a key raise (:class:`SpeechInputError` naming
    ``field_name``); a failed OpenAI call falls back to the rules, reported in ``fallback``.
    ``language`` (a tag or espeak voice) picks the rules' word lists (``None``: guessed).
    """
    if provider not in EMOTION_PROVIDERS:
        raise SpeechInputError(
            f"{field_name}: must be one of {', '.join(EMOTION_PROVIDERS)}, got {str(provider)[:40]!r}"
        )
    names = list(expressions)
    has_key = settings is not None and bool(settings.openai_api_key)
    if provider == "openai" and not has_key:
        raise SpeechInputError(f"{field_name}: 'openai' needs OPENAI_API_KEY, which is not set")

    def rules(fallback: str | None = None) -> EmotionPlan:
        return EmotionPlan(plan_emotions(words, names, text, end_ms=end_ms, language=language), "rules", fallback)

    if provider == "rules" or not has_key or not words:
        return rules()
    assert settings is not None
    if len(words) > MAX_PLAN_WORDS:
        return rules(f"openai: {len(words)} words is over the planning limit of {MAX_PLAN_WORDS}")
    try:
        track = plan_emotions_openai(words, emotion_expressions(names, exclude), text, settings, end_ms=end_ms)
    except ProviderError as exc:
        log.warning("emotion planning fell back to the rules: %s", exc)
        return rules(str(exc))
    return EmotionPlan(track, "openai")
