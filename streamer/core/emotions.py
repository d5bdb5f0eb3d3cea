"""Emotion planning by offline rules: timed words to a v1 ``emotion`` track (pure, deterministic).

The text is split into sentences; each sentence gets one emotion from a small curated lexicon
of emotional words (each with an intensity in [0, 1]), adjusted by negation ("not happy"),
intensifiers ("so happy"), softeners ("a bit sad"), punctuation ("!" raises intensity, "?"
leans towards surprise) and emoji or emoticons. The emotion becomes the first of the rig's
expressions that can show it (``happy_big`` / ``happy_soft``, ``concerned``,
``surprised_ah``, ...); changes start at the first word that carries the emotion (or at the
sentence's first word when only punctuation does), at least ``min_gap_ms`` apart, and the face
returns to ``neutral`` after the last word.

Word lists exist for English, Spanish, French and German, with the emoji and emoticons
(:mod:`streamer.core.emotion_languages`); ``language`` picks them (a tag such as ``es`` or
``fr-FR``, or an espeak voice), or, when ``None``, they are guessed from the words' frequent
function words (English when nothing tells). Any other language is read by its punctuation
(``!``, ``?``; Spanish ``¡`` ``¿`` open a sentence and add nothing) and emoji alone.

Public API::

    plan_emotions(words, expressions, text=None, ...) -> list[dict]   {t_ms, expr, transition_ms}
    analyze(words, text=None, language=None) -> list[SentenceEmotion]   the per-sentence decisions
    rules_for(language, words) -> Language                              the word lists used
    end_in_neutral(track, last_word_end_ms, ...) -> list[dict]          the final return to neutral
    change_at(words, first, stop, last_t_ms, min_gap_ms) -> int | None  where a change can go
    check_words(words)                                                  raises TimelineError
    transition_for(expr) -> int                                         a change's duration (ms)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamer.core.emotion_languages import (
    ANGER,
    EMOJI,
    EMOTICONS,
    ENGLISH,
    FEAR,
    JOY,
    LANGUAGES,
    NO_WORDS,
    SADNESS,
    SURPRISE,
    Language,
    language_code,
)
from streamer.core.errors import TimelineError
from streamer.core.timeline import WordSpan

NEUTRAL = "neutral"
EMOTIONS = (SURPRISE, JOY, SADNESS, FEAR, ANGER)  # also the tie-break order

# A sentence shows an emotion from this score up; joy from BIG_JOY up is the big smile.
THRESHOLD = 0.35
BIG_JOY = 0.7
MIN_GAP_MS = 700
END_HOLD_MS = 300

# Rig expressions to try for each emotion, best first (names of the demo rig and common others).
CANDIDATES: Mapping[str, tuple[str, ...]] = {
    "joy_big": ("happy_big", "happy", "joy", "smile", "happy_soft"),
    "joy_soft": ("happy_soft", "smile", "happy", "happy_big"),
    SADNESS: ("sad", "concerned", "worried"),
    FEAR: ("worried", "scared", "concerned", "afraid"),
    ANGER: ("angry", "annoyed", "concerned"),
    SURPRISE: ("surprised_ah", "surprised", "surprise", "oh_round"),
}
TRANSITION_MS: Mapping[str, int] = {JOY: 400, SADNESS: 600, FEAR: 450, ANGER: 400, SURPRISE: 150, NEUTRAL: 500}


NEGATION_WINDOW = 3  # a negation affects an emotional word up to this many words later

_EMOTICON = re.compile("|".join(re.escape(e) for e in sorted(EMOTICONS, key=len, reverse=True)))
_SENTENCE_END = re.compile(r"[.!?…;。।]|\n\s*\n")
# Other scripts' marks read as "!" and "?" (full-width, Arabic question mark).
_MARKS = str.maketrans({"！": "!", "？": "?", "؟": "?"})
_PAUSE = re.compile(r"[,.;:!?…()\[\]\"—–]")  # ends a negation's reach and breaks a phrase
_WORD_CHARS = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


@dataclass(frozen=True)
class SentenceEmotion:
    """One sentence's decision: words ``first..last`` (indices), its emotion and where it starts.

    ``emotion`` is ``"neutral"`` or one of :data:`EMOTIONS`; ``anchor`` is the index of the word
    the change starts at; ``cues`` are the words, emoji and punctuation that decided it.
    """

    first: int
    last: int
    emotion: str
    intensity: float
    anchor: int
    cues: tuple[str, ...] = ()


@dataclass
class _Token:
    index: int
    norm: str  # lower-case letters and digits, apostrophes removed ("" for an emoji)
    trailing: str  # punctuation, emoji and spaces after the word, up to the next word


def _norm(text: str) -> str:
    found = _WORD_CHARS.findall(unicodedata.normalize("NFKC", text).lower())
    return "".join(found).replace("'", "").replace("’", "")


def rules_for(language: str | None, words: Sequence[WordSpan] = ()) -> Language:
    """The word lists for ``language`` (a tag or espeak voice; ``None``: guessed from ``words``).

    A language without lists gets none (punctuation and emoji only). The guess counts each
    language's function words among ``words`` and takes the clear winner, else English.
    """
    code = language_code(language)
    if code is not None:
        return LANGUAGES.get(code, NO_WORDS)
    counts = dict.fromkeys(LANGUAGES, 0)
    for w in words:
        norm = _norm(w.text)
        for lang in LANGUAGES.values():
            counts[lang.code] += lang.base(norm) in lang.function_words
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if ranked[0][1] > 0 and ranked[0][1] > ranked[1][1]:
        return LANGUAGES[ranked[0][0]]
    return ENGLISH


def _tokens(words: Sequence[WordSpan], text: str | None, lang: Language = ENGLISH) -> list[_Token]:
    """Each word's normalised form and the text that follows it (punctuation, emoji)."""
    tokens: list[_Token] = []
    spans: list[tuple[int, int] | None] = []
    if text is not None:
        # Case-insensitive when lower-casing keeps every index (it does not for a few letters, like "İ").
        fold = len(text.lower()) == len(text)
        lower, cursor = (text.lower() if fold else text), 0
        for w in words:
            needle = w.text.strip().lower() if fold else w.text.strip()
            at = lower.find(needle, cursor) if needle else -1
            if at >= 0:
                spans.append((at, at + len(needle)))
                cursor = at + len(needle)
            else:
                spans.append(None)
    for i, w in enumerate(words):
        own = w.text.strip()
        core = _WORD_CHARS.search(own)
        # Punctuation inside the word's own text ("happy!"), after its letters.
        trailing = own[core.end() :] if core else own
        span = spans[i] if text is not None else None
        if span is not None and text is not None:
            nxt = next((s for s in spans[i + 1 :] if s is not None), None)
            trailing += text[span[1] : nxt[0] if nxt else len(text)]
        tokens.append(_Token(i, lang.base(_norm(lang.split_elision(own))), trailing.translate(_MARKS)))
    return tokens


def _is_symbolic(token: _Token) -> bool:
    """A word with no letters (an emoji that the speech engine read out, a lone symbol)."""
    return token.norm == ""


def _sentences(tokens: list[_Token]) -> list[list[_Token]]:
    out: list[list[_Token]] = []
    current: list[_Token] = []
    for t in tokens:
        if _is_symbolic(t) and not current and out:
            out[-1].append(t)  # an emoji after a sentence's end belongs to that sentence
            continue
        current.append(t)
        if _SENTENCE_END.search(t.trailing):
            out.append(current)
            current = []
    if current:
        out.append(current)
    return [s for s in out if s]


def _lookup(norm: str, lang: Language = ENGLISH) -> tuple[str, float] | None:
    lexicon = lang.lexicon
    if norm in lexicon:
        return lexicon[norm]
    variants = []
    for suffix, repl in lang.suffixes:
        if norm.endswith(suffix) and len(norm) > len(suffix) + 2:
            variants.append(norm[: -len(suffix)] + repl)
    if lang is ENGLISH and norm.endswith("ly") and len(norm) > 4:
        variants += [norm[:-2], norm[:-3] + "y" if norm.endswith("ily") else norm[:-2]]
    for v in variants:
        if v in lexicon:
            return lexicon[v]
    return None


def _symbols(text: str) -> list[tuple[str, str, float]]:
    """Emoji and emoticons in ``text`` as (symbol, emotion, intensity)."""
    found = [(m.group(0), *EMOTICONS[m.group(0)]) for m in _EMOTICON.finditer(text)]
    found += [(ch, *EMOJI[ch]) for ch in text if ch in EMOJI]
    return found


def _negated(emotion: str, intensity: float) -> tuple[str, float] | None:
    """A negated emotion: "not happy" is a bit sad, "not bad" a bit happy, "not surprised" nothing."""
    if emotion == JOY:
        return SADNESS, intensity * 0.8
    if emotion in (SADNESS, FEAR, ANGER):
        return JOY, 0.4
    return None


def _judge(sentence: list[_Token], lang: Language = ENGLISH) -> tuple[str, float, int, tuple[str, ...]]:
    """The sentence's emotion, intensity, anchor word index and cues."""
    scores: dict[str, list[float]] = {e: [] for e in EMOTIONS}
    first_at: dict[str, int] = {}
    cues: list[str] = []
    negate_left = 0
    boost = 1.0
    question = any("?" in t.trailing for t in sentence)

    def add(emotion: str, intensity: float, at: int, cue: str) -> None:
        scores[emotion].append(intensity)
        first_at.setdefault(emotion, at)
        cues.append(cue)

    skip = False
    for k, t in enumerate(sentence):
        norm = t.norm
        if skip:  # the second word of a phrase
            skip = False
            negate_left = max(0, negate_left - 1)
            continue
        nxt = sentence[k + 1].norm if k + 1 < len(sentence) else ""
        hit = lang.phrases.get((norm, nxt))
        if hit is not None and not _PAUSE.search(t.trailing):
            skip = True
            norm = norm + " " + nxt
        else:
            hit = _lookup(norm, lang) if norm else None
        if hit is None and norm in lang.negations:
            negate_left, boost = NEGATION_WINDOW + 1, 1.0
        elif norm in lang.intensifiers and hit is None:
            boost = max(boost, lang.intensifiers[norm])
        elif norm in lang.softeners:
            boost = min(boost, lang.softeners[norm])
        if hit is not None:
            emotion, intensity = hit
            label = norm
            if negate_left > 0:
                flipped = _negated(emotion, intensity)
                label = "not " + norm
                negate_left = 0
                if flipped is None:
                    continue
                emotion, intensity = flipped
            add(emotion, min(1.0, intensity * boost), t.index, label)
            boost = 1.0
        elif question and norm in lang.question_surprise:
            add(SURPRISE, 0.6, t.index, norm + "?")
        for symbol, emotion, intensity in _symbols(t.trailing):
            add(emotion, intensity, t.index, symbol)
        negate_left = 0 if _PAUSE.search(t.trailing) else max(0, negate_left - 1)

    punct = "".join(t.trailing for t in sentence)
    marks = re.findall(r"[!?]+", punct)
    exclaim = sum(m.count("!") for m in marks)
    if any("?" in m and "!" in m for m in marks):
        add(SURPRISE, 0.6, sentence[0].index, "?!")
    elif question:
        add(SURPRISE, 0.25, sentence[0].index, "?")

    totals: dict[str, float] = {}
    for emotion, values in scores.items():
        if values:
            ordered = sorted(values, reverse=True)
            totals[emotion] = min(1.0, ordered[0] + 0.25 * sum(ordered[1:]))
    if not totals:
        return NEUTRAL, 0.0, sentence[0].index, ()
    best = max(EMOTIONS, key=lambda e: (totals.get(e, -1.0), -EMOTIONS.index(e)))
    intensity = totals[best]
    if exclaim:
        intensity = min(1.0, intensity * (1.3 if exclaim == 1 else 1.5))
        cues.append("!" * min(exclaim, 3))
    if intensity < THRESHOLD:
        return NEUTRAL, round(intensity, 3), sentence[0].index, tuple(cues)
    return best, round(intensity, 3), first_at[best], tuple(cues)


def check_words(words: Sequence[WordSpan]) -> None:
    """Raise :class:`TimelineError` naming the word unless every time is an integer >= 0, sorted by start."""
    prev = 0
    for i, w in enumerate(words):
        for name in ("t_ms", "end_ms"):
            value = getattr(w, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TimelineError(f"words[{i}].{name}: must be an integer >= 0, got {value!r}")
        if w.end_ms < w.t_ms:
            raise TimelineError(f"words[{i}].end_ms: {w.end_ms} is before its t_ms {w.t_ms}")
        if w.t_ms < prev:
            raise TimelineError(f"words[{i}].t_ms: {w.t_ms} is before the previous word's start {prev}")
        if not isinstance(w.text, str):
            raise TimelineError(f"words[{i}].text: must be a string, got {w.text!r}")
        prev = w.t_ms


def analyze(words: Sequence[WordSpan], text: str | None = None, language: str | None = None) -> list[SentenceEmotion]:
    """The emotion of each sentence of ``words`` (``text``, when given, supplies punctuation and emoji).

    ``language`` chooses the word lists (:func:`rules_for`; ``None`` guesses them from the words).
    """
    check_words(words)
    lang = rules_for(language, words)
    tokens = _tokens(words, text, lang)
    out = []
    for sentence in _sentences(tokens):
        emotion, intensity, anchor, cues = _judge(sentence, lang)
        out.append(SentenceEmotion(sentence[0].index, sentence[-1].index, emotion, intensity, anchor, cues))
    return out


def expression_for(emotion: str, intensity: float, expressions: Iterable[str]) -> str:
    """The rig expression that shows ``emotion`` at ``intensity`` (``neutral`` when the rig has none)."""
    have = set(expressions)
    key = ("joy_big" if intensity >= BIG_JOY else "joy_soft") if emotion == JOY else emotion
    for name in CANDIDATES.get(key, ()):
        if name in have:
            return name
    return NEUTRAL


# Emotion tags a script or an LLM may write inline ("[happy] Nice to see you"): tag -> emotion, intensity.
EMOTION_TAGS = {
    "happy": (JOY, 0.5),
    "glad": (JOY, 0.5),
    "smile": (JOY, 0.5),
    "excited": (JOY, 1.0),
    "joy": (JOY, 1.0),
    "laugh": (JOY, 1.0),
    "sad": (SADNESS, 0.6),
    "concerned": (SADNESS, 0.6),
    "worried": (FEAR, 0.6),
    "scared": (FEAR, 0.9),
    "surprised": (SURPRISE, 0.8),
    "wow": (SURPRISE, 0.8),
    "angry": (ANGER, 0.8),
}


def expression_for_tag(tag: str, expressions: Iterable[str]) -> str | None:
    """The rig expression an inline tag names: an expression of the rig, ``neutral`` or an emotion of
    :data:`EMOTION_TAGS`; None for a tag the rig cannot show."""
    have = set(expressions)
    tag = tag.lower()
    if tag in have:
        return tag
    found = EMOTION_TAGS.get(tag)
    return expression_for(*found, have) if found else None


def plan_emotions(
    words: Sequence[WordSpan],
    expressions: Iterable[str],
    text: str | None = None,
    *,
    min_gap_ms: int = MIN_GAP_MS,
    end_hold_ms: int = END_HOLD_MS,
    end_ms: int | None = None,
    language: str | None = None,
) -> list[dict[str, Any]]:
    """A v1 emotion track for ``words`` using only the rig's ``expressions``.

    ``language`` (a tag or espeak voice) picks the word lists; ``None`` guesses (:func:`rules_for`).

    Items are ``{t_ms, expr, transition_ms}``, strictly increasing in time, each at a word's
    start (except the final return to ``neutral``, ``end_hold_ms`` after the last word), at
    least ``min_gap_ms`` apart; a change that cannot keep the spacing moves to a later word of
    its sentence or is dropped. ``end_ms`` (exclusive) bounds the final item (e.g. the
    timeline's duration). The track starts from ``neutral``: no item is emitted until the face
    changes. Raises :class:`TimelineError` naming the word for unsorted or negative times.
    """
    if min_gap_ms < 0 or end_hold_ms < 0:
        raise TimelineError("min_gap_ms and end_hold_ms: must be >= 0")
    have = list(expressions)
    track: list[dict[str, Any]] = []
    current = NEUTRAL
    last_t = -min_gap_ms - 1
    for s in analyze(words, text, language):
        expr = expression_for(s.emotion, s.intensity, have) if s.emotion != NEUTRAL else NEUTRAL
        if expr == current:
            continue
        at = change_at(words, s.anchor, s.last + 1, last_t, min_gap_ms)
        if at is None:
            continue
        transition = TRANSITION_MS[s.emotion if expr != NEUTRAL else NEUTRAL]
        track.append({"t_ms": words[at].t_ms, "expr": expr, "transition_ms": transition})
        current, last_t = expr, words[at].t_ms
    last_word_end = max((w.end_ms for w in words), default=0)
    return end_in_neutral(track, last_word_end, min_gap_ms=min_gap_ms, end_hold_ms=end_hold_ms, end_ms=end_ms)


def change_at(words: Sequence[WordSpan], first: int, stop: int, last_t_ms: int, min_gap_ms: int) -> int | None:
    """Where a change of expression wanted at word ``first`` goes: the index of the first word of
    ``first..stop-1`` that starts after ``last_t_ms`` (the previous change) and at least
    ``min_gap_ms`` after it; ``None`` when none does (the change is dropped).
    """
    return next(
        (i for i in range(first, stop) if words[i].t_ms > last_t_ms and words[i].t_ms - last_t_ms >= min_gap_ms),
        None,
    )


def end_in_neutral(
    track: list[dict[str, Any]],
    last_word_end_ms: int,
    *,
    min_gap_ms: int = MIN_GAP_MS,
    end_hold_ms: int = END_HOLD_MS,
    end_ms: int | None = None,
) -> list[dict[str, Any]]:
    """``track`` (modified and returned) brought back to ``neutral`` after the last word.

    The return comes ``end_hold_ms`` after ``last_word_end_ms`` and at least ``min_gap_ms``
    after the last change, before ``end_ms`` (exclusive). When there is no room for it, the last
    change is dropped instead (better not to change at all), and so on.
    """
    current = track[-1]["expr"] if track else NEUTRAL
    last_t = track[-1]["t_ms"] if track else -min_gap_ms - 1
    while current != NEUTRAL:
        t = max(last_word_end_ms + end_hold_ms, last_t + min_gap_ms)
        if end_ms is not None:
            t = min(t, end_ms - 1)
        if t > last_t:
            track.append({"t_ms": t, "expr": NEUTRAL, "transition_ms": TRANSITION_MS[NEUTRAL]})
            break
        track.pop()  # no room to come back to neutral after it: better not to change at all
        current = track[-1]["expr"] if track else NEUTRAL
        last_t = track[-1]["t_ms"] if track else -min_gap_ms - 1
    return track


def transition_for(expr: str) -> int:
    """How long a change to the rig expression ``expr`` takes (ms), from the emotion it shows."""
    if expr == NEUTRAL:
        return TRANSITION_MS[NEUTRAL]
    for key, names in CANDIDATES.items():
        if expr in names:
            return TRANSITION_MS[JOY if key.startswith("joy") else key]
    return TRANSITION_MS[JOY]
