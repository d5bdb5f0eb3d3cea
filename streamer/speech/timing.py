"""Timings from speech services: characters to words, and phonemes spread over timed words (pure, no I/O).

Services such as ElevenLabs time characters, and aligners time words; the lip-sync needs
phonemes. :func:`words_from_characters` groups timed characters into words (split at
whitespace, punctuation kept with its word); :func:`match_words` pairs those words with the
words of a reference reading (espeak-ng's, which knows each word's phonemes);
:func:`spread_phonemes` stretches a reference word's phonemes over the span the service gave.
:data:`TOKEN` is how any text splits into words, everywhere (espeak's events, the aligner,
captions); :func:`tokens` gives them in lower case.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from streamer.speech.errors import TimingError
from streamer.speech.model import Phoneme, Word
from streamer.speech.units import seconds_to_ms

# A word of a text as espeak-ng splits it: letters and digits, joined by apostrophes or hyphens
# ("I'm", "well-known"). The one definition: espeak's timings, the aligner and captions use it.
TOKEN = re.compile(r"\w+(?:['’\-]\w+)*")


def words_from_characters(
    characters: Sequence[str], starts_s: Sequence[float], ends_s: Sequence[float], field: str = "alignment"
) -> list[Word]:
    """Words from timed characters: runs of non-whitespace, from the first one's start to the last one's end.

    Times are seconds; words come out in integer milliseconds, sorted, never overlapping the
    next word and never ending before they start. Raises :class:`TimingError` naming ``field``.
    """
    if not (len(characters) == len(starts_s) == len(ends_s)):
        raise TimingError(
            f"{field}: {len(characters)} characters but {len(starts_s)} start and {len(ends_s)} end times"
        )
    spans: list[tuple[int, int, str]] = []
    current: list[str] = []
    t_ms = end_ms = 0
    for i, (ch, start, end) in enumerate(zip(characters, starts_s, ends_s, strict=True)):
        if not isinstance(ch, str):
            raise TimingError(f"{field}.characters[{i}]: must be a string")
        start_ms = seconds_to_ms(start, f"{field}.character_start_times_seconds[{i}]", TimingError)
        stop_ms = seconds_to_ms(end, f"{field}.character_end_times_seconds[{i}]", TimingError)
        if not ch.strip():
            if current:
                spans.append((t_ms, end_ms, "".join(current)))
                current = []
            continue
        if not current:
            t_ms, end_ms = start_ms, stop_ms
        current.append(ch)
        end_ms = max(end_ms, stop_ms)
    if current:
        spans.append((t_ms, end_ms, "".join(current)))
    return tidy_words(spans)


def tidy_words(spans: Sequence[tuple[int, int, str]]) -> list[Word]:
    """``(t_ms, end_ms, text)`` as sorted words: starts never go back, ends never pass the next start."""
    out: list[Word] = []
    prev_t = 0
    for k, (t_ms, end_ms, text) in enumerate(spans):
        t_ms = max(t_ms, prev_t)
        if k + 1 < len(spans):
            end_ms = min(end_ms, max(spans[k + 1][0], t_ms))
        out.append(Word(t_ms, max(t_ms, end_ms), text))
        prev_t = t_ms
    return out


def tokens(text: str) -> list[str]:
    """The lower-case words of ``text`` as espeak-ng splits them (``"Don't stop!"`` -> don't, stop)."""
    return [m.group(0).lower() for m in TOKEN.finditer(text)]


def match_words(targets: Sequence[str], reference: Sequence[str]) -> list[list[int]]:
    """For each target word, the indices of the ``reference`` words that read it (often one, maybe none).

    Both are compared as espeak-ng tokens, in order (a longest-matching-blocks diff), so a word
    the service split or joined differently, or dropped, only loses its own phonemes.
    """
    flat: list[int] = []  # token position -> target index
    target_tokens: list[str] = []
    for i, word in enumerate(targets):
        for token in tokens(word):
            flat.append(i)
            target_tokens.append(token)
    reference_flat: list[int] = []  # token position -> reference index ("I am" is one espeak word)
    reference_tokens: list[str] = []
    for j, word in enumerate(reference):
        for token in tokens(word):
            reference_flat.append(j)
            reference_tokens.append(token)
    out: list[list[int]] = [[] for _ in targets]
    matcher = difflib.SequenceMatcher(None, target_tokens, reference_tokens, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            owner = out[flat[block.a + k]]
            if reference_flat[block.b + k] not in owner:
                owner.append(reference_flat[block.b + k])
    return out


def spread_phonemes(phonemes: Sequence[Phoneme], word: Word) -> list[Phoneme]:
    """``phonemes`` (one word's, in reference time) stretched linearly over ``word``'s span.

    Pauses are dropped; the result is sorted, touching or apart, inside the word, each at least
    1 ms long when the word has room, and labelled with the word's text.
    """
    sounding = sorted((p for p in phonemes if not p.is_pause), key=lambda p: (p.t_ms, p.end_ms))
    if not sounding or word.end_ms <= word.t_ms:
        return []
    src_t, src_end = sounding[0].t_ms, max(p.end_ms for p in sounding)
    src_len, dst_len = max(1, src_end - src_t), word.end_ms - word.t_ms

    def place(t: int) -> int:
        return word.t_ms + (t - src_t) * dst_len // src_len

    out: list[Phoneme] = []
    for p in sounding:
        t = max(place(p.t_ms), out[-1].end_ms if out else word.t_ms)
        end = min(place(p.end_ms), word.end_ms)
        if end > t:
            out.append(Phoneme(t, end, p.symbol, p.arpabet, word.text))
    return out
