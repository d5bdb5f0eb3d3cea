"""Phonemes for words timed by someone else (a speech service, an aligner), read by espeak-ng (I/O: espeak).

espeak-ng reads the words once, offline, which gives each word's phonemes in its own timing;
those are matched to the given words and stretched over each word's span
(:mod:`streamer.speech.timing`), so the existing lip-sync works with any provider's words.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from streamer.speech.model import Phoneme, Word
from streamer.speech.synthesis.espeak import synthesize
from streamer.speech.timing import match_words, spread_phonemes, tokens

CHUNK_WORDS = 200  # words per espeak reading: keeps each under espeak's text limit


def _reference(words: Sequence[Word], voice: str) -> tuple[list[Word], list[list[Phoneme]]]:
    """espeak's reading of ``words``: its words and, for each, the phonemes spoken in it."""
    speech = synthesize(" ".join(w.text for w in words), voice=voice)
    starts = [w.t_ms for w in speech.words]
    groups: list[list[Phoneme]] = [[] for _ in speech.words]
    for p in speech.phonemes:
        k = bisect.bisect_right(starts, p.t_ms) - 1
        if k >= 0 and not p.is_pause:
            groups[k].append(p)
    return speech.words, groups


def phonemes_for_words(words: Sequence[Word], voice: str = "en-us") -> list[Phoneme]:
    """Phonemes for timed ``words``, each word's own phonemes spread over its span (sorted).

    A word espeak does not read (a symbol, a word it splits differently) gets no phonemes: the
    mouth rests there. Raises :class:`~streamer.speech.SpeechError` if espeak-ng fails.
    """
    out: list[Phoneme] = []
    for first in range(0, len(words), CHUNK_WORDS):
        chunk = words[first : first + CHUNK_WORDS]
        if not any(tokens(w.text) for w in chunk):
            continue
        reference, groups = _reference(chunk, voice)
        matches = match_words([w.text for w in chunk], [w.text for w in reference])
        k = 0
        while k < len(chunk):
            # Words espeak read as one ("I am") share its phonemes, spread over their joint span.
            last = k
            while matches[k] and last + 1 < len(chunk) and matches[last + 1] == matches[k]:
                last += 1
            joint = Word(chunk[k].t_ms, chunk[last].end_ms, chunk[k].text)
            spread = spread_phonemes([p for j in matches[k] for p in groups[j]], joint)
            out.extend(spread if last == k else _split(spread, chunk[k : last + 1]))
            k = last + 1
    return out


def _split(phonemes: list[Phoneme], words: Sequence[Word]) -> list[Phoneme]:
    """Phonemes spread over several words' joint span, each given to the word it starts in (clipped)."""
    starts = [w.t_ms for w in words]
    out = []
    for p in phonemes:
        word = words[max(bisect.bisect_right(starts, p.t_ms) - 1, 0)]
        t_ms, end_ms = max(p.t_ms, word.t_ms), min(p.end_ms, word.end_ms)
        if end_ms > t_ms:
            out.append(Phoneme(t_ms, end_ms, p.symbol, p.arpabet, word.text))
    return out
