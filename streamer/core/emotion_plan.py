"""Emotion plans from a language model: the prompt, the strict JSON schema, checking and snapping the answer (pure).

The model sees the line's words numbered from 0 and answers changes of expression anchored
to word indices (``{"changes": [{"word_index", "expression"}]}``), with ``expression`` an
``enum`` of the rig's emotional expressions. :func:`parse_plan` checks the answer against the
same rules (the service enforces the schema, but a gateway or an older model may not), and
:func:`snap_plan` turns it into a v1 ``emotion`` track under the same constraints as the
offline rules (:mod:`streamer.core.emotions`): only rig expressions, at word starts, at least
``min_gap_ms`` apart, back to ``neutral`` after the last word.

Public API::

    emotion_expressions(expressions, exclude) -> list[str]     names a plan may use, neutral first
    plan_schema(expressions) -> dict                            the strict JSON schema
    plan_messages(words, expressions, text=None) -> list[dict]  chat messages asking for a plan
    parse_plan(content, expressions, n_words) -> list[PlannedChange]      raises PlanError
    snap_plan(changes, words, ...) -> list[dict]                {t_ms, expr, transition_ms}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from streamer.core.emotions import (
    END_HOLD_MS,
    MIN_GAP_MS,
    NEUTRAL,
    change_at,
    check_words,
    end_in_neutral,
    transition_for,
)
from streamer.core.errors import StreamerError
from streamer.core.timeline import WordSpan

PLAN_NAME = "emotion_plan"
MAX_PLAN_WORDS = 1500  # longer inputs are planned by the rules (the prompt would cost too much)
_MAX_WORD_IN_PROMPT = 40

SYSTEM_PROMPT = (
    "You plan the facial expressions of an animated character while it speaks a line. "
    "You get the expressions the character can show and the words of the line, numbered from 0. "
    "Answer with the changes of expression: for each, the index of the word where the new expression "
    "starts, and the expression. The face starts neutral and goes back to neutral by itself after the "
    "last word. Change only where the feeling of the words changes, usually at most once per sentence; "
    "plain statements stay neutral. Use only the listed expressions. The line may be in any "
    "language: read its feeling in that language (its words, punctuation such as ¡ ¿, and emoji), "
    "without translating it, and number the words exactly as given."
)


class PlanError(StreamerError, ValueError):
    """A model's emotion plan is not JSON or breaks the schema; the message names the field."""


@dataclass(frozen=True)
class PlannedChange:
    """The expression ``expr`` starting at word ``word_index``."""

    word_index: int
    expr: str


def emotion_expressions(expressions: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """The rig's expressions a plan may use: all but ``exclude`` (mouth shapes, blinks), ``neutral`` first."""
    dropped = set(exclude) - {NEUTRAL}
    names = [e for e in dict.fromkeys(expressions) if e not in dropped and e != NEUTRAL]
    return [NEUTRAL, *names]


def plan_schema(expressions: Sequence[str]) -> dict[str, Any]:
    """The strict JSON schema of a plan: every property required, no additional properties."""
    return {
        "type": "object",
        "properties": {
            "changes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "word_index": {"type": "integer", "description": "index of the word the expression starts at"},
                        "expression": {"type": "string", "enum": list(expressions)},
                    },
                    "required": ["word_index", "expression"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["changes"],
        "additionalProperties": False,
    }


def plan_messages(
    words: Sequence[WordSpan], expressions: Sequence[str], text: str | None = None
) -> list[dict[str, str]]:
    """The system and user messages asking for a plan of ``words`` (``text`` adds punctuation and emoji)."""
    numbered = " ".join(f"{i}={w.text.strip()[:_MAX_WORD_IN_PROMPT]}" for i, w in enumerate(words))
    user = f"Expressions: {', '.join(expressions)}\n"
    if text:
        user += f"Text: {text}\n"
    user += f"Words: {numbered}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_plan(content: str, expressions: Iterable[str], n_words: int) -> list[PlannedChange]:
    """The changes in a model's answer ``content``; raises :class:`PlanError` naming the bad field."""
    try:
        doc = json.loads(content)
    except ValueError as exc:
        raise PlanError(f"answer: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise PlanError("answer: must be a JSON object {changes}")
    extra = sorted(set(doc) - {"changes"})
    if extra:
        raise PlanError(f"{str(extra[0])[:40]}: unknown field (known: changes)")
    raw = doc.get("changes")
    if not isinstance(raw, list):
        raise PlanError("changes: must be a list")
    allowed = set(expressions)
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise PlanError(f"changes[{i}]: must be an object {{word_index, expression}}")
        extra = sorted(set(item) - {"word_index", "expression"})
        if extra:
            raise PlanError(f"changes[{i}].{str(extra[0])[:40]}: unknown field")
        index, expr = item.get("word_index"), item.get("expression")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n_words:
            raise PlanError(
                f"changes[{i}].word_index: must be an integer in [0, {n_words - 1}], got {json.dumps(index)[:20]}"
            )
        if not isinstance(expr, str) or expr not in allowed:
            raise PlanError(f"changes[{i}].expression: {str(expr)[:40]!r} is not one of the rig's expressions")
        out.append(PlannedChange(index, expr))
    return out


def snap_plan(
    changes: Sequence[PlannedChange],
    words: Sequence[WordSpan],
    *,
    min_gap_ms: int = MIN_GAP_MS,
    end_hold_ms: int = END_HOLD_MS,
    end_ms: int | None = None,
) -> list[dict[str, Any]]:
    """A v1 emotion track from ``changes``: each at its word's start, like the offline rules.

    Several changes at one word: the last wins. A change equal to the current face is skipped;
    one too close to the previous (``min_gap_ms``) moves to a later word before the next
    planned change, or is dropped; the face returns to ``neutral`` ``end_hold_ms`` after the
    last word, before ``end_ms`` (exclusive). Raises ``TimelineError`` for unsorted words.
    """
    check_words(words)
    by_word: dict[int, str] = {}
    for c in sorted(changes, key=lambda c: c.word_index):
        if 0 <= c.word_index < len(words):
            by_word[c.word_index] = c.expr
    indices = sorted(by_word)
    track: list[dict[str, Any]] = []
    current, last_t = NEUTRAL, -min_gap_ms - 1
    for k, index in enumerate(indices):
        expr = by_word[index]
        if expr == current:
            continue
        limit = indices[k + 1] if k + 1 < len(indices) else len(words)
        at = change_at(words, index, limit, last_t, min_gap_ms)
        if at is None or (end_ms is not None and words[at].t_ms >= end_ms - 1):
            continue
        track.append({"t_ms": words[at].t_ms, "expr": expr, "transition_ms": transition_for(expr)})
        current, last_t = expr, words[at].t_ms
    last_word_end = max((w.end_ms for w in words), default=0)
    return end_in_neutral(track, last_word_end, min_gap_ms=min_gap_ms, end_hold_ms=end_hold_ms, end_ms=end_ms)
