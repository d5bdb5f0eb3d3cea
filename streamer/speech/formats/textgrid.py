"""Praat TextGrids: read (long and short text formats) and write them, and MFA's tiers as an Alignment (pure).

Both text formats hold the same values in the same order; the long one adds labels
(``xmin =``, ``item [1]:``) that Praat itself treats as comments, so one tokenizer (quoted
strings, numbers and ``<exists>`` flags) reads both. Times are seconds in the file and integer
milliseconds here. Errors are :class:`TextGridError` naming the line.

Public API::

    parse_textgrid(text) -> TextGrid
    alignment_from_textgrid(grid) -> Alignment          tiers "words" and "phones" (MFA's output)
    write_textgrid(tiers, duration_ms) -> str           Praat's long text format
    arpabet_of(label) -> str | None                     ARPAbet or MFA's IPA phone -> ARPAbet
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streamer.speech.errors import TextGridError
from streamer.speech.lipsync.arpabet import PHONES, VOWELS
from streamer.speech.model import AlignedWord, Alignment, Phoneme
from streamer.speech.units import seconds_to_ms

MAX_SECONDS = 3600.0
# Interval labels that mean silence (MFA writes "" and, in older models, "sil" / "sp").
SILENCE = frozenset(["", "sil", "sp", "<eps>", "<sil>", "silence"])


@dataclass(frozen=True)
class Interval:
    """A labelled span of a tier; ``text`` is ``""`` for silence. A point has ``end_ms == t_ms``."""

    t_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class Tier:
    name: str
    kind: str  # "IntervalTier" or "TextTier" (points)
    intervals: tuple[Interval, ...]


@dataclass(frozen=True)
class TextGrid:
    xmin_ms: int
    xmax_ms: int
    tiers: tuple[Tier, ...]

    def tier(self, name: str) -> Tier | None:
        """The first interval tier called ``name`` (case-insensitive), or ending in ``" - name"`` (MFA speakers)."""
        name = name.lower()
        for t in self.tiers:
            low = t.name.lower().strip()
            if t.kind == "IntervalTier" and (low == name or low.endswith(f"- {name}")):
                return t
        return None


_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"]|"")*")
  | (?P<flag><exists>|<absent>)
  | (?P<number>(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<index>\[[^\]\n]*\])
  | (?P<comment>![^\n]*)
  | (?P<other>[^\s"\[!]+)
  | (?P<space>\s+)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "flag" or "number"
    value: str
    line: int


def _tokens(text: str) -> list[_Token]:
    """Strings, numbers and flags, in order: labels (``xmin =``, ``item [1]:``) are Praat's comments.

    A word right after ``=`` on its line is a value, kept (as ``other``) so that the error for
    ``xmax = abc`` names its line rather than the next value's.
    """
    out: list[_Token] = []
    line, pos, after_equals = 1, 0, False
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # an unterminated string
            raise TextGridError(f"line {line}: unterminated string")
        kind, value = m.lastgroup or "", m.group()
        if kind in ("string", "flag", "number"):
            out.append(_Token(kind, value[1:-1].replace('""', '"') if kind == "string" else value, line))
        elif kind == "other" and after_equals:
            out.append(_Token(kind, value, line))
        if kind != "space" or "\n" in value:
            after_equals = kind == "other" and value.endswith("=")
        line += value.count("\n")
        pos = m.end()
    return out


class _Reader:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens, self.i = tokens, 0

    def _next(self, what: str) -> _Token:
        if self.i >= len(self.tokens):
            last = self.tokens[-1].line if self.tokens else 1
            raise TextGridError(f"line {last}: the file ends where {what} was expected")
        self.i += 1
        return self.tokens[self.i - 1]

    def string(self, what: str) -> str:
        tok = self._next(what)
        if tok.kind != "string":
            raise TextGridError(f"line {tok.line}: expected {what} (a quoted string), got {tok.value[:40]!r}")
        return tok.value

    def number(self, what: str) -> float:
        tok = self._next(what)
        if tok.kind != "number":
            raise TextGridError(f"line {tok.line}: expected {what} (a number), got {tok.value[:40]!r}")
        return float(tok.value)

    def seconds(self, what: str) -> int:
        line = self.tokens[self.i].line if self.i < len(self.tokens) else 0
        return seconds_to_ms(self.number(what), f"line {line}: {what}", TextGridError, MAX_SECONDS)

    def count(self, what: str, limit: int = 1_000_000) -> int:
        line = self.tokens[self.i].line if self.i < len(self.tokens) else 0
        value = self.number(what)
        if value != int(value) or not 0 <= value <= limit:
            raise TextGridError(f"line {line}: {what} must be a whole number in [0, {limit}], got {value:g}")
        return int(value)

    def flag(self) -> bool | None:
        if self.i < len(self.tokens) and self.tokens[self.i].kind == "flag":
            self.i += 1
            return self.tokens[self.i - 1].value == "<exists>"
        return None


def parse_textgrid(text: str) -> TextGrid:
    """Parse a text TextGrid, long or short format (they hold the same values in the same order).

    Raises :class:`TextGridError` naming the line for anything unexpected (binary TextGrids
    included: save them as text in Praat).
    """
    if text.lstrip().startswith("ooBinaryFile") or "ooBinaryFile" in text[:64]:
        raise TextGridError("line 1: binary TextGrids are not supported (in Praat: Save as text file)")
    r = _Reader(_tokens(text))
    file_type = r.string("the file type")
    if not file_type.startswith("ooTextFile"):
        raise TextGridError(f'line 1: file type {file_type[:40]!r} is not "ooTextFile"')
    object_class = r.string("the object class")
    if object_class != "TextGrid":
        raise TextGridError(f'line 2: object class {object_class[:40]!r} is not "TextGrid"')
    xmin, xmax = r.seconds("xmin"), r.seconds("xmax")
    tiers: list[Tier] = []
    if r.flag() is not False:
        for k in range(1, r.count("the number of tiers", 1000) + 1):
            tiers.append(_tier(r, k))
    return TextGrid(xmin, xmax, tuple(tiers))


def _tier(r: _Reader, k: int) -> Tier:
    kind = r.string(f"tier {k}'s class")
    name = r.string(f"tier {k}'s name")
    where = f"tier {name[:40]!r}"
    r.seconds(f"{where} xmin")
    r.seconds(f"{where} xmax")
    items: list[Interval] = []
    if kind == "IntervalTier":
        for j in range(1, r.count(f"{where}: the number of intervals") + 1):
            line = r.tokens[r.i].line if r.i < len(r.tokens) else 0
            t_ms = r.seconds(f"{where} interval {j} xmin")
            end_ms = r.seconds(f"{where} interval {j} xmax")
            label = r.string(f"{where} interval {j} text")
            if end_ms < t_ms:
                raise TextGridError(f"line {line}: {where} interval {j}: xmax is before xmin")
            if items and t_ms < items[-1].end_ms:
                raise TextGridError(f"line {line}: {where} interval {j} starts before interval {j - 1} ends")
            items.append(Interval(t_ms, end_ms, label))
    elif kind == "TextTier":
        for j in range(1, r.count(f"{where}: the number of points") + 1):
            t_ms = r.seconds(f"{where} point {j} time")
            items.append(Interval(t_ms, t_ms, r.string(f"{where} point {j} mark")))
    else:
        raise TextGridError(f"{where}: unknown tier class {kind[:40]!r} (expected IntervalTier or TextTier)")
    return Tier(name, kind, tuple(items))


# The IPA phones of MFA's "english_mfa" models mapped to ARPAbet (vowels get stress 1, schwa 0).
IPA_ARPABET: Mapping[str, str] = {
    **dict.fromkeys(("ɑ", "a", "ɒ"), "AA1"),
    "æ": "AE1",
    "ʌ": "AH1",
    **dict.fromkeys(("ə", "ɐ"), "AH0"),
    "ɔ": "AO1",
    **dict.fromkeys(("aw", "aʊ"), "AW1"),
    **dict.fromkeys(("aj", "aɪ"), "AY1"),
    "ɛ": "EH1",
    **dict.fromkeys(("ɝ", "ɚ", "ɜ"), "ER1"),
    **dict.fromkeys(("e", "ej", "eɪ"), "EY1"),
    "ɪ": "IH1",
    "i": "IY1",
    **dict.fromkeys(("o", "ow", "oʊ", "əw", "əʊ"), "OW1"),
    **dict.fromkeys(("ɔj", "ɔɪ"), "OY1"),
    "ʊ": "UH1",
    **dict.fromkeys(("u", "ʉ"), "UW1"),
    **{c: c.upper() for c in "bdfklmnpstvwz"},
    **dict.fromkeys(("ɡ", "g"), "G"),
    "θ": "TH",
    "ð": "DH",
    "ʃ": "SH",
    "ʒ": "ZH",
    "tʃ": "CH",
    "dʒ": "JH",
    "ŋ": "NG",
    "ɫ": "L",
    **dict.fromkeys(("ɹ", "r"), "R"),
    "ɾ": "T",
    "j": "Y",
    "h": "HH",
}
_IPA_MARKS = re.compile("[ːˑʰʲʷ̩̃̚]")


def arpabet_of(label: str) -> str | None:
    """ARPAbet (with a stress digit on vowels) for a phone label in ARPAbet or MFA's IPA, else ``None``."""
    upper = label.strip().upper()
    base = upper.rstrip("012")
    if base in PHONES and len(upper) - len(base) <= 1:
        return upper if base != upper or base not in VOWELS else base + "1"
    ipa = label.strip()
    return IPA_ARPABET.get(ipa) or IPA_ARPABET.get(_IPA_MARKS.sub("", ipa))


def alignment_from_textgrid(grid: TextGrid) -> Alignment:
    """The words and phonemes of a TextGrid (MFA's ``words`` and ``phones`` tiers) as an :class:`Alignment`.

    Empty (or ``sil``/``sp``) intervals are silence. Phones are ARPAbet with stress digits, or
    MFA's IPA phones (mapped to ARPAbet); others (``spn``) keep their label and relax the mouth.
    Without a ``phones`` tier each word opens the mouth (as ``AH``), with a warning.
    """
    words_tier = grid.tier("words") or grid.tier("word")
    if words_tier is None:
        names = ", ".join(repr(t.name) for t in grid.tiers) or "none"
        raise TextGridError(f"tiers: no IntervalTier named 'words' (tiers: {names})")
    prefix = words_tier.name[: len(words_tier.name) - len("words")] if words_tier.name.endswith("words") else ""
    phones_tier = grid.tier(prefix + "phones") if prefix else None
    phones_tier = phones_tier or grid.tier("phones") or grid.tier("phonemes") or grid.tier("phone")
    words = [
        AlignedWord(i.t_ms, i.end_ms, i.text.strip())
        for i in words_tier.intervals
        if i.text.strip().lower() not in SILENCE
    ]
    warnings: list[str] = []
    phonemes: list[Phoneme] = []
    if phones_tier is None:
        warnings.append("no 'phones' tier: each word opens the mouth as AH")
        phonemes = [Phoneme(w.t_ms, w.end_ms, "AH1", "AH1", w.text) for w in words if w.end_ms > w.t_ms]
    else:
        k = 0
        for i in phones_tier.intervals:
            label = i.text.strip()
            if label.lower() in SILENCE or i.end_ms <= i.t_ms:
                continue
            mid = (i.t_ms + i.end_ms) // 2
            while k < len(words) and words[k].end_ms <= mid:
                k += 1
            word = words[k].text if k < len(words) and words[k].t_ms <= mid else None
            phonemes.append(Phoneme(i.t_ms, i.end_ms, label[:16], arpabet_of(label), word))
    duration = max([grid.xmax_ms] + [w.end_ms for w in words] + [p.end_ms for p in phonemes])
    return Alignment(words, phonemes, duration, "textgrid", warnings=warnings)


def _seconds(ms: int) -> str:
    """Exact decimal seconds for ``ms`` (no float noise): 1500 -> "1.5", 0 -> "0"."""
    whole, frac = divmod(ms, 1000)
    return f"{whole}.{frac:03d}".rstrip("0").rstrip(".")


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _filled(intervals: Sequence[Interval], duration_ms: int) -> list[Interval]:
    """The tier's intervals with its silences as empty intervals, covering [0, ``duration_ms``]."""
    out: list[Interval] = []
    t = 0
    for i in sorted(intervals, key=lambda i: i.t_ms):
        start, end = max(i.t_ms, t), min(i.end_ms, duration_ms)
        if end <= start:
            continue
        if start > t:
            out.append(Interval(t, start, ""))
        out.append(Interval(start, end, i.text))
        t = end
    if t < duration_ms or not out:
        out.append(Interval(t, max(duration_ms, t + 1), ""))
    return out


def write_textgrid(tiers: Mapping[str, Sequence[Interval]], duration_ms: int) -> str:
    """A TextGrid (Praat's long text format) with one IntervalTier per entry of ``tiers`` (in order).

    The tiers run from 0 to ``duration_ms``; gaps become empty (silent) intervals and overlaps
    are clipped, as Praat needs a tier to cover its whole time range.
    """
    duration_ms = max([duration_ms, 1] + [i.end_ms for items in tiers.values() for i in items])
    end = _seconds(duration_ms)
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', ""]
    lines += ["xmin = 0", f"xmax = {end}", "tiers? <exists>", f"size = {len(tiers)}", "item []:"]
    for k, (name, items) in enumerate(tiers.items(), start=1):
        filled = _filled(items, duration_ms)
        lines += [f"    item [{k}]:", '        class = "IntervalTier"', f"        name = {_quote(name)}"]
        lines += ["        xmin = 0", f"        xmax = {end}", f"        intervals: size = {len(filled)}"]
        for j, i in enumerate(filled, start=1):
            lines += [f"        intervals [{j}]:", f"            xmin = {_seconds(i.t_ms)}"]
            lines += [f"            xmax = {_seconds(i.end_ms)}", f"            text = {_quote(i.text)}"]
    return "\n".join(lines) + "\n"
