"""Turn espeak-ng's synth events into word and phoneme timings, mnemonics into ARPAbet (pure, no I/O).

espeak reports a word event where each word starts (its 1-based character position in the
text and its length) and a phoneme event where each phoneme starts, both with a sample
position. A phoneme lasts until the next phoneme starts; a word lasts until the end of its
last sounding phoneme (or the next word's start, if that is earlier). Several events that
point into one word of the text (``123`` is spoken as three words) merge into that word.

English voices name phonemes with espeak's English mnemonics (mapped to ARPAbet here); other
voices in IPA (``ipa=True``), where a lone modifier (``ʲ``: the consonant before it is
palatalised) belongs to the phoneme before it rather than being a sound of its own.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from streamer.speech.lipsync.arpabet import VOWELS
from streamer.speech.model import Phoneme, Word
from streamer.speech.timing import TOKEN
from streamer.speech.units import samples_to_ms

# espeak_EVENT_TYPE values used here.
EVENT_WORD = 1
EVENT_END = 5
EVENT_PHONEME = 7

# espeak's English phoneme mnemonics (phsource/ph_english*) to ARPAbet. r-coloured vowels map
# to their vowel (the mouth shape), syllabic consonants to the consonant. Symbols not listed
# are looked up again without their variant suffix (``t2`` -> ``t``, ``I#`` -> ``I``).
MNEMONIC_TO_ARPABET: dict[str, str] = {
    # vowels
    "a": "AE",
    "a#": "AH",
    "a2": "AH",
    "aa": "AA",
    "A:": "AA",
    "A@": "AA",
    "A": "AA",
    "0": "AA",
    "@": "AH",
    "@2": "AH",
    "@5": "AH",
    "@L": "AH",
    "V": "AH",
    "3": "ER",
    "3:": "ER",
    "@r": "ER",
    "E": "EH",
    "E2": "EH",
    "E#": "EH",
    "e@": "EH",
    "e": "EH",
    "eI": "EY",
    "i": "IY",
    "i:": "IY",
    "i@": "IY",
    "i@3": "IY",
    "I": "IH",
    "I2": "IH",
    "I#": "IH",
    "I2#": "IH",
    "O": "AO",
    "O:": "AO",
    "O@": "AO",
    "o@": "AO",
    "O2": "AO",
    "o": "OW",
    "oU": "OW",
    "oU#": "OW",
    "@U": "OW",
    "u:": "UW",
    "u": "UW",
    "U": "UH",
    "U@": "UH",
    "aI": "AY",
    "aI@": "AY",
    "aI3": "AY",
    "aU": "AW",
    "aU@": "AW",
    "OI": "OY",
    # consonants
    "p": "P",
    "b": "B",
    "t": "T",
    "d": "D",
    "k": "K",
    "g": "G",
    "t#": "T",
    "d#": "D",
    "f": "F",
    "v": "V",
    "T": "TH",
    "D": "DH",
    "s": "S",
    "z": "Z",
    "S": "SH",
    "Z": "ZH",
    "h": "HH",
    "x": "HH",
    "C": "HH",
    "tS": "CH",
    "dZ": "JH",
    "m": "M",
    "n": "N",
    "N": "NG",
    "m-": "M",
    "n-": "N",
    "l": "L",
    "l/": "L",
    "l#": "L",
    "L": "L",
    "r": "R",
    "r-": "R",
    "r/": "R",
    "*": "R",
    "w": "W",
    "W": "W",
    "j": "Y",
}

_STRESS_MARKS = {"'": "1", ",": "2"}
_UNSTRESSED_MARKS = "%="
_VARIANT_SUFFIX = re.compile(r"[0-9#/\-]+$")


class RawEvent(NamedTuple):
    """One espeak event as read from the C struct; ``name`` is the phoneme mnemonic, else ``""``."""

    kind: int
    text_position: int
    length: int
    sample: int
    name: str = ""


def decode_mnemonic(raw: bytes) -> str:
    """The phoneme name packed into an event's 8-byte ``id`` field (UTF-8, NUL padded)."""
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def to_arpabet(symbol: str) -> str | None:
    """``"'aI"`` -> ``"AY1"``, ``"t2"`` -> ``"T"``; ``None`` for pauses and unknown symbols."""
    digit = "0"
    while symbol and (symbol[0] in _STRESS_MARKS or symbol[0] in _UNSTRESSED_MARKS):
        digit = _STRESS_MARKS.get(symbol[0], digit)
        symbol = symbol[1:]
    if not symbol or symbol.startswith(("_", "|")):
        return None
    arpabet = MNEMONIC_TO_ARPABET.get(symbol)
    if arpabet is None:
        base = _VARIANT_SUFFIX.sub("", symbol)
        arpabet = MNEMONIC_TO_ARPABET.get(base) if base else None
    if arpabet is None:
        return None
    return arpabet + digit if arpabet in VOWELS else arpabet


def is_modifier(symbol: str) -> bool:
    """An IPA event naming only a modifier of the sound before it (``ʲ``, ``ʰ``, ``ː``, a combining mark)."""
    return bool(symbol) and all(unicodedata.category(ch) in ("Lm", "Mn", "Sk") for ch in symbol)


def _is_pause(symbol: str) -> bool:
    return not symbol or symbol.startswith(("_", "|"))


def _word_text(text: str, starts: list[int], spans: list[tuple[int, int]], event: RawEvent) -> tuple[int, str]:
    """The text word an event points into, as ``(token index or -1 - position, text)``."""
    index = event.text_position - 1
    i = bisect.bisect_right(starts, index) - 1
    if i >= 0 and spans[i][0] <= index < spans[i][1]:
        return i, text[spans[i][0] : spans[i][1]]
    return -1 - index, text[index : index + max(event.length, 1)].strip()


@dataclass
class _OpenWord:
    key: int
    text: str
    t_ms: int
    sounding_end_ms: int | None = None


def _absorb_skipped_tokens(text: str, spans: list[tuple[int, int]], words: list[_OpenWord]) -> None:
    """Give the text's words that espeak spoke inside another word to that word.

    espeak speaks some pairs as one word with one word event ("I am" in "I am so happy"):
    the tokens it skipped become part of the word before them ("I am"), so no word of the
    text goes missing from the timings.
    """
    for k, word in enumerate(words):
        if word.key < 0:
            continue
        after = words[k + 1] if k + 1 < len(words) else None
        until = len(text) if after is None else spans[after.key][0] if after.key >= 0 else -1 - after.key
        last = bisect.bisect_left([start for start, _ in spans], until) - 1
        if last > word.key:
            word.text = text[spans[word.key][0] : spans[last][1]]


def build_alignment(
    text: str, events: Sequence[RawEvent], n_samples: int, sample_rate: int, *, ipa: bool = False
) -> tuple[list[Word], list[Phoneme]]:
    """Words and phonemes, in milliseconds, from espeak's events for ``text``.

    With ``ipa``, phoneme names are IPA: phonemes get no ARPAbet, and a modifier event
    (:func:`is_modifier`) lengthens the phoneme before it.
    """
    if ipa:
        events = [e for e in events if not (e.kind == EVENT_PHONEME and is_modifier(e.name))]

    def ms(sample: int) -> int:
        return max(0, sample) * 1000 // sample_rate

    total_ms = samples_to_ms(n_samples, sample_rate)
    # A phoneme lasts until the next phoneme or clause-end event; one that shares its time with
    # the next (a pause right before a word) is empty and dropped. Word events do not cut
    # phonemes: they can fall inside a stop's closure, which still belongs to the sound before.
    marks = [i for i, e in enumerate(events) if e.kind in (EVENT_PHONEME, EVENT_END)]
    next_time = {i: ms(events[j].sample) for i, j in zip(marks, marks[1:], strict=False)}

    spans = [m.span() for m in TOKEN.finditer(text)]
    starts = [s for s, _ in spans]
    sounds: list[tuple[int, int, str, _OpenWord | None]] = []
    words: list[_OpenWord] = []
    for i, e in enumerate(events):
        if e.kind == EVENT_WORD:
            key, word = _word_text(text, starts, spans, e)
            if word and not (words and words[-1].key == key):  # "123" is three spoken words
                words.append(_OpenWord(key, word, ms(e.sample)))
        elif e.kind == EVENT_PHONEME:
            t, end = ms(e.sample), next_time.get(i, total_ms)
            if end <= t:
                continue
            owner = None if _is_pause(e.name) or not words else words[-1]
            sounds.append((t, end, e.name, owner))
            if owner is not None:
                owner.sounding_end_ms = end
    _absorb_skipped_tokens(text, spans, words)
    phonemes = [
        Phoneme(t, end, name, None if ipa else to_arpabet(name), None if owner is None else owner.text)
        for t, end, name, owner in sounds
    ]

    out: list[Word] = []
    for k, w in enumerate(words):
        end = w.t_ms if w.sounding_end_ms is None else w.sounding_end_ms
        if k + 1 < len(words):
            end = min(end, words[k + 1].t_ms)
        out.append(Word(w.t_ms, max(w.t_ms, end), w.text))
    return out, phonemes
