"""Lip-sync: phoneme timings to a v1 ``speech`` track (pure, no I/O).

A chain of small passes over integer milliseconds:

1. shapes: in ``"phoneme"`` mode each phoneme becomes a mouth shape (:func:`viseme_for`: the
   rig's viseme map by symbol or ARPAbet, else the phoneme's articulation; bilabials close the
   lips, other consonants relax to ``neutral``, pauses leave a gap); in ``"word"`` mode (like
   face_rig) each word holds the shape of its first vowel, then relaxes;
2. onsets: where speech starts (at 0 or after a pause), the first vowel's shape takes over the
   consonants before it that leave the lips free (``h``, ``s``, ``r``, ``w``, ``k``...; not a
   bilabial or labiodental), when that vowel comes within ``onset_ms`` (default 150): the lips
   move to the vowel during them, and the mouth moves when the sound starts;
3. anticipation: every onset moves ``anticipation_ms`` earlier (default 50), so the mouth is
   formed when the sound starts; never before 0 and never into the previous shape;
4. silences shorter than ``min_hold_ms`` are bridged; longer ones stay gaps, where the speech
   layer lets go and the mouth relaxes to the emotion's own (closed) mouth;
5. equal neighbours merge, and shapes shorter than ``min_hold_ms`` are merged into a neighbour
   (a short vowel may instead borrow time from a long consonant) so the face never flickers;
   a bilabial's closed mouth is never merged away (it borrows time from a neighbour instead).

Whole timelines around the track are built in :mod:`streamer.speech.lipsync.timelines`.
"""

from __future__ import annotations

import heapq
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamer.core.articulation import ARPABET_IPA, CLASS_ARPABET, articulation, mouth_class
from streamer.core.errors import TimelineError
from streamer.core.rig import DEFAULT_VISEMES
from streamer.core.timeline import WordSpan
from streamer.speech.lipsync.arpabet import base, is_vowel
from streamer.speech.model import Phoneme

NEUTRAL = "neutral"
MODES = ("phoneme", "word")
# Why 50 ms: the rig's speech transition (60 ms by default) starts at the cue, so the mouth is
# nearly formed when the sound starts; video frames (41.7 ms at 24 fps) show a change late, never
# early; and viewers accept a picture that leads the sound (up to ~125 ms) far more readily than
# one that lags it (~45 ms).
ANTICIPATION_MS = 50
MAX_ANTICIPATION_MS = 1000
# Why 150 ms: in speech the lips take the vowel's posture during the consonants before it (lip
# rounding starts 100-200 ms ahead); a phrase's first sound (the "W" of "Well", 133 ms; "R" of
# "Right", 116 ms) would otherwise hold the mouth shut while the voice is already heard. A longer
# onset cluster ("str") keeps its relaxed mouth: the shape would then lead its vowel by too much.
ONSET_MS = 150
_MAX_PHONEME_LABEL = 16
_MAX_WORD = 200


@dataclass
class _Shape:
    t_ms: int
    end_ms: int
    viseme: str
    phoneme: str
    word: str | None
    closed: bool = False  # a bilabial: its closed mouth must show, never merged into a vowel
    free: bool = False  # a consonant that leaves the lips free (mouth class "rest")
    version: int = 0
    alive: bool = True

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.t_ms


def viseme_for(phoneme: Phoneme, visemes_map: Mapping[str, str]) -> str | None:
    """The mouth shape for one phoneme: ``None`` for a pause, ``neutral`` for unmapped sounds.

    Looked up in ``visemes_map`` (the rig's ``visemes``), first match wins:

    1. the engine's symbol between slashes, as is, then without stress and length marks, then
       without diacritics (``/ɔ̃/``, ``/ɔ/``; espeak's English mnemonics too: ``/aI/``);
    2. ARPAbet, when the phoneme has it: with the stress digit (``AA1``), then without (``AA``);
    3. the phoneme's mouth class by articulation (:mod:`streamer.core.articulation`:
       ``closed``, ``open``, ``spread``, ``rounded``, ``round``, ``labiodental``), then that
       class's ARPAbet stand-in (``AA`` for ``open``), so a face_rig vowel map serves every language.
    """
    if phoneme.arpabet is None and phoneme.is_pause:
        return None
    for key in _symbol_keys(phoneme.symbol):
        if key in visemes_map:
            return visemes_map[key]
    if phoneme.arpabet is not None:
        found = visemes_map.get(phoneme.arpabet) or visemes_map.get(base(phoneme.arpabet))
        if found:
            return found
    cls = _mouth_class(phoneme)
    if cls is None:
        return NEUTRAL
    return visemes_map.get(cls) or visemes_map.get(CLASS_ARPABET.get(cls, ""), NEUTRAL)


def _symbol_keys(symbol: str) -> list[str]:
    """``visemes`` keys for an engine symbol: ``/ˈɔ̃ː/`` -> ``/ɔ̃ː/``, ``/ɔ̃/``, ``/ɔ/``."""
    bare = unicodedata.normalize("NFC", symbol.lstrip("ˈˌ',%="))
    short = bare.replace("ː", "").replace("ˑ", "").rstrip(":")
    plain = unicodedata.normalize(
        "NFC", "".join(ch for ch in unicodedata.normalize("NFD", short) if not unicodedata.combining(ch))
    )
    return [f"/{k}/" for k in dict.fromkeys((bare, short, plain)) if k]


def _mouth_class(phoneme: Phoneme) -> str | None:
    """The phoneme's mouth class: from its ARPAbet when it has one (espeak's English voices, ARPAbet
    imports), else from its symbol read as IPA (espeak's other voices)."""
    if phoneme.arpabet is not None:
        return mouth_class(ARPABET_IPA.get(base(phoneme.arpabet), ""))
    return mouth_class(phoneme.symbol)


def _is_vowel(phoneme: Phoneme) -> bool:
    if phoneme.arpabet is not None:
        return is_vowel(phoneme.arpabet)
    art = articulation(phoneme.symbol)
    return art is not None and art.vowel


def _label(p: Phoneme) -> str:
    return (p.arpabet or p.symbol)[:_MAX_PHONEME_LABEL]


def _word(text: str | None) -> str | None:
    return text[:_MAX_WORD] if text else None


def _shapes(phonemes: Sequence[Phoneme], visemes_map: Mapping[str, str]) -> list[_Shape]:
    """One shape per sounding phoneme, clipped so that none overlaps the one before."""
    out: list[_Shape] = []
    for p in sorted(phonemes, key=lambda p: (p.t_ms, p.end_ms)):
        viseme = viseme_for(p, visemes_map)
        t_ms = max(p.t_ms, out[-1].end_ms) if out else p.t_ms
        if viseme is None or p.end_ms <= t_ms:
            continue
        cls = _mouth_class(p)
        free = cls == "rest" and viseme == NEUTRAL
        out.append(_Shape(t_ms, p.end_ms, viseme, _label(p), _word(p.word), cls == "closed", free))
    return out


def _open_onsets(shapes: list[_Shape], onset_ms: int) -> list[_Shape]:
    """Where speech starts (at 0 or after a pause), the first vowel's shape takes over the
    lip-free consonants before it, if it comes within ``onset_ms`` of the start."""
    out: list[_Shape] = []
    k = 0
    while k < len(shapes):
        s = shapes[k]
        if s.free and (k == 0 or shapes[k - 1].end_ms < s.t_ms):
            j = k
            while j + 1 < len(shapes) and shapes[j].free and shapes[j].end_ms == shapes[j + 1].t_ms:
                j += 1
            vowel = shapes[j]  # free shapes are neutral: a vowel's shape is not
            if not vowel.closed and vowel.viseme != NEUTRAL and vowel.t_ms - s.t_ms <= onset_ms:
                vowel.t_ms = s.t_ms  # the onset consonants are dropped: the vowel's shape starts with them
                k = j
        out.append(shapes[k])
        k += 1
    return out


@dataclass
class _WordGroup:
    t_ms: int
    end_ms: int
    text: str | None
    phonemes: list[Phoneme]


def _word_groups(phonemes: Sequence[Phoneme], words: Sequence[WordSpan] | None) -> list[_WordGroup]:
    """The spoken words with their phonemes, sorted and not overlapping.

    With ``words``, a phoneme belongs to the word holding its midpoint and the word's own span
    is used; without, runs of sounding phonemes with the same ``Phoneme.word`` make a word.
    """
    sounding = sorted((p for p in phonemes if not (p.arpabet is None and p.is_pause)), key=lambda p: p.t_ms)
    groups: list[_WordGroup] = []
    if words is not None:
        k = 0
        for w in sorted(words, key=lambda w: w.t_ms):
            while k < len(sounding) and (sounding[k].t_ms + sounding[k].end_ms) // 2 < w.t_ms:
                k += 1
            inside = []
            while k < len(sounding) and (sounding[k].t_ms + sounding[k].end_ms) // 2 < max(w.end_ms, w.t_ms + 1):
                inside.append(sounding[k])
                k += 1
            if inside:
                groups.append(_WordGroup(w.t_ms, max(w.end_ms, inside[-1].end_ms), w.text, inside))
    else:
        for p in sounding:
            if groups and p.word is not None and p.word == groups[-1].text:
                groups[-1].end_ms = max(groups[-1].end_ms, p.end_ms)
                groups[-1].phonemes.append(p)
            else:
                groups.append(_WordGroup(p.t_ms, p.end_ms, p.word, [p]))
    out: list[_WordGroup] = []
    for g in groups:
        g.t_ms = max(g.t_ms, out[-1].end_ms) if out else g.t_ms
        if g.end_ms > g.t_ms:
            out.append(g)
    return out


def _word_shapes(
    phonemes: Sequence[Phoneme], visemes_map: Mapping[str, str], words: Sequence[WordSpan] | None, relax_ms: int
) -> list[_Shape]:
    """face_rig's lip-sync: one shape per word, its first vowel's, held for the word, then relax.

    A word with no mapped vowel holds ``neutral``. Two touching words with the same shape get a
    ``relax_ms`` ``neutral`` at the end of the first (when it is long enough to keep
    ``relax_ms`` of its own), so each word still shows.
    """
    out: list[_Shape] = []
    for g in _word_groups(phonemes, words):
        vowels = (p for p in g.phonemes if _is_vowel(p))
        vowel = next((p for p in vowels if viseme_for(p, visemes_map) != NEUTRAL), None)
        viseme = viseme_for(vowel, visemes_map) if vowel else NEUTRAL
        out.append(_Shape(g.t_ms, g.end_ms, viseme or NEUTRAL, _label(vowel or g.phonemes[0]), _word(g.text)))
    relaxed: list[_Shape] = []
    for k, s in enumerate(out):
        after = out[k + 1] if k + 1 < len(out) else None
        relaxed.append(s)
        if after and after.t_ms == s.end_ms and after.viseme == s.viseme != NEUTRAL and s.duration_ms >= 2 * relax_ms:
            relaxed.append(_Shape(s.end_ms - relax_ms, s.end_ms, NEUTRAL, s.phoneme, s.word))
            s.end_ms -= relax_ms
    return relaxed


def _anticipate(shapes: list[_Shape], anticipation_ms: int) -> list[_Shape]:
    """Move every onset ``anticipation_ms`` earlier, never before 0 or into the previous shape.

    Between touching shapes the boundary moves (the earlier shape ends sooner); after a gap the
    onset moves into the gap; the end of a shape before a gap stays, as the sound lasts to it.
    A closed (bilabial) shape that the clamp at 0 would shorten keeps its length (the shape
    after it starts later).
    """
    if anticipation_ms <= 0 or not shapes:
        return shapes
    starts, ends = [s.t_ms for s in shapes], [s.end_ms for s in shapes]
    onsets: list[int] = []
    for k, t_ms in enumerate(starts):
        lo = 0 if k == 0 else onsets[k - 1] if ends[k - 1] == t_ms else ends[k - 1]
        if k and shapes[k - 1].closed and ends[k - 1] == t_ms:
            lo += ends[k - 1] - starts[k - 1]  # the clamp at 0 never shortens a closed mouth
        onsets.append(max(t_ms - anticipation_ms, lo))
    for k, s in enumerate(shapes):
        s.t_ms = onsets[k]
        if k + 1 < len(shapes) and ends[k] == starts[k + 1]:
            s.end_ms = onsets[k + 1]
    return [s for s in shapes if s.end_ms > s.t_ms]


def _bridge_gaps(shapes: list[_Shape], min_hold_ms: int) -> list[_Shape]:
    """Hold a shape through a silence shorter than ``min_hold_ms`` instead of flashing the emotion."""
    for s, after in zip(shapes, shapes[1:], strict=False):
        if 0 < after.t_ms - s.end_ms < min_hold_ms:
            s.end_ms = after.t_ms
    return shapes


def _merge_equal(shapes: list[_Shape]) -> list[_Shape]:
    out: list[_Shape] = []
    for s in shapes:
        if out and out[-1].viseme == s.viseme and out[-1].end_ms == s.t_ms:
            out[-1].end_ms = s.end_ms
            out[-1].closed = out[-1].closed or s.closed
        else:
            out.append(s)
    return out


def _absorb_short(shapes: list[_Shape], min_hold_ms: int) -> list[_Shape]:
    """Merge every shape shorter than ``min_hold_ms`` into a touching neighbour, shortest first.

    The merged span keeps the neighbour's shape, except that a vowel shape beats ``neutral``.
    A neighbour with a vowel shape is preferred, then the shorter one, then the earlier one.
    A short vowel next to a ``neutral`` shape that can spare the time (and stay at least
    ``min_hold_ms``) takes just what it needs from it instead, so the consonant still shows.
    A closed (bilabial) shape is never merged into another: when short it takes what its
    neighbours can spare, then time down to half ``min_hold_ms`` from them, and stays if it
    reaches half ``min_hold_ms``; else it swallows a neighbour (a closed mouth beats a vowel). A
    short vowel between closed shapes likewise takes time down to half ``min_hold_ms`` from them.
    """
    n = len(shapes)
    prev = list(range(-1, n - 1))
    nxt = [*range(1, n), -1]

    def touching(i: int, j: int) -> bool:
        return j >= 0 and (shapes[j].end_ms == shapes[i].t_ms or shapes[i].end_ms == shapes[j].t_ms)

    def unlink(j: int) -> None:
        shapes[j].alive = False
        if prev[j] >= 0:
            nxt[prev[j]] = nxt[j]
        if nxt[j] >= 0:
            prev[nxt[j]] = prev[j]

    def absorb(keep: int, gone: int) -> None:
        k, g = shapes[keep], shapes[gone]
        k.t_ms, k.end_ms = min(k.t_ms, g.t_ms), max(k.end_ms, g.end_ms)
        k.closed = k.closed or g.closed
        k.version += 1
        unlink(gone)

    def borrow(i: int, j: int, ms: int) -> None:
        """Move ``ms`` of touching neighbour ``j``'s time to shape ``i``."""
        if j < i:
            shapes[j].end_ms -= ms
            shapes[i].t_ms -= ms
        else:
            shapes[j].t_ms += ms
            shapes[i].end_ms += ms
        shapes[j].version += 1
        shapes[i].version += 1
        if shapes[j].duration_ms < min_hold_ms:
            heapq.heappush(heap, (shapes[j].duration_ms, shapes[j].t_ms, j, shapes[j].version))

    def take(i: int, options: list[int], want: int, keep: int) -> None:
        """Give shape ``i`` up to ``want`` ms from its touching ``options``, each keeping ``keep`` ms."""
        for j in sorted(options, key=lambda j: -shapes[j].duration_ms):
            ms = min(want, shapes[j].duration_ms - keep)
            if ms > 0:
                borrow(i, j, ms)
                want -= ms

    floor_ms = min_hold_ms // 2  # under a frame at 30 fps for the default 60 ms
    heap = [(s.duration_ms, s.t_ms, i, s.version) for i, s in enumerate(shapes) if s.duration_ms < min_hold_ms]
    heapq.heapify(heap)
    while heap:
        _, _, i, version = heapq.heappop(heap)
        s = shapes[i]
        if not s.alive or s.version != version or s.duration_ms >= min_hold_ms:
            continue
        options = [j for j in (prev[i], nxt[i]) if touching(i, j)]
        if not options:
            continue  # isolated: stretched later if there is room
        need = min_hold_ms - s.duration_ms
        if s.closed:
            take(i, options, need, min_hold_ms)
            take(i, options, floor_ms - s.duration_ms, floor_ms)
            if s.duration_ms >= floor_ms:
                continue  # a closure long enough to be seen stays, even if shorter than min_hold_ms
        elif s.viseme != NEUTRAL:
            # A short vowel borrows from a long relaxed neighbour rather than swallowing it.
            spare = [j for j in options if shapes[j].viseme == NEUTRAL and shapes[j].duration_ms - need >= min_hold_ms]
            if spare:
                borrow(i, max(spare, key=lambda j: (shapes[j].duration_ms, j < i)), need)
                continue
            if all(shapes[j].closed for j in options):
                take(i, options, floor_ms - s.duration_ms, floor_ms)
                if s.duration_ms >= floor_ms:
                    continue  # an opening between closed mouths ("mama") stays, even if short
        if not s.closed:  # a closed neighbour is the last resort
            options = [j for j in options if not shapes[j].closed] or options
        j = min(options, key=lambda j: (shapes[j].viseme == NEUTRAL, shapes[j].duration_ms, j > i))
        if s.closed or shapes[j].closed:
            winner, loser = (i, j) if s.closed else (j, i)
        else:
            winner, loser = (i, j) if s.viseme != NEUTRAL and shapes[j].viseme == NEUTRAL else (j, i)
        absorb(winner, loser)
        left, right = prev[winner], nxt[winner]
        if touching(winner, left) and shapes[left].viseme == shapes[winner].viseme:
            absorb(left, winner)
            winner = left
        if touching(winner, right) and shapes[right].viseme == shapes[winner].viseme:
            absorb(winner, right)
        w = shapes[winner]
        if w.duration_ms < min_hold_ms:
            heapq.heappush(heap, (w.duration_ms, w.t_ms, winner, w.version))
    return [s for s in shapes if s.alive]


def _stretch_isolated(shapes: list[_Shape], min_hold_ms: int) -> list[_Shape]:
    """Lengthen a short shape into the silence after it, up to ``min_hold_ms`` or the next shape."""
    for k, s in enumerate(shapes):
        if s.duration_ms < min_hold_ms:
            limit = shapes[k + 1].t_ms if k + 1 < len(shapes) else s.t_ms + min_hold_ms
            s.end_ms = max(s.end_ms, min(s.t_ms + min_hold_ms, limit))
            s.version += 1
    return _merge_equal(shapes)


def speech_track(
    phonemes: Sequence[Phoneme],
    visemes_map: Mapping[str, str] = DEFAULT_VISEMES,
    min_hold_ms: int = 60,
    *,
    anticipation_ms: int = ANTICIPATION_MS,
    mode: str = "phoneme",
    words: Sequence[WordSpan] | None = None,
    onset_ms: int = ONSET_MS,
) -> list[dict[str, Any]]:
    """The v1 ``speech`` track for ``phonemes`` (ARPAbet in ``Phoneme.arpabet``).

    Vowels take their shape from ``visemes_map`` (the rig's ``rig.config.visemes``: ARPAbet
    without stress digits -> rig expression); other sounds become ``neutral``; pauses leave a
    gap. ``mode="word"`` holds one shape per word (``words`` gives the word spans, else
    ``Phoneme.word`` groups them). Where speech starts, the first vowel's shape covers the
    lip-free consonants before it when it comes within ``onset_ms`` (0: never; phoneme mode;
    a word's shape covers its whole word anyway). Onsets come ``anticipation_ms`` early. Returns dicts
    ``{t_ms, end_ms, viseme, phoneme, word}`` (``word`` left out when unknown), sorted, not
    overlapping, each ``end_ms > t_ms``; ``phoneme`` is the sound that chose the shape.
    Raises :class:`~streamer.core.errors.TimelineError` (a ``ValueError``) naming the argument
    for a negative ``min_hold_ms``, an ``anticipation_ms`` outside ``[0, MAX_ANTICIPATION_MS]``
    or an unknown mode.
    """
    if min_hold_ms < 0:
        raise TimelineError(f"min_hold_ms: must be >= 0, got {min_hold_ms}")
    if not 0 <= anticipation_ms <= MAX_ANTICIPATION_MS:
        raise TimelineError(f"anticipation_ms: must be in [0, {MAX_ANTICIPATION_MS}], got {anticipation_ms}")
    if mode not in MODES:
        raise TimelineError(f"mode: must be one of {', '.join(MODES)}, got {str(mode)[:40]!r}")
    if not 0 <= onset_ms <= MAX_ANTICIPATION_MS:
        raise TimelineError(f"onset_ms: must be in [0, {MAX_ANTICIPATION_MS}], got {onset_ms}")
    if mode == "word":
        shapes = _word_shapes(phonemes, visemes_map, words, min_hold_ms)
    else:
        shapes = _open_onsets(_shapes(phonemes, visemes_map), onset_ms)
    shapes = _merge_equal(_bridge_gaps(_anticipate(shapes, anticipation_ms), min_hold_ms))
    shapes = _absorb_short(shapes, min_hold_ms)
    # A stretched shape may come to touch the next one while still short: absorb once more.
    shapes = _merge_equal(_absorb_short(_stretch_isolated(shapes, min_hold_ms), min_hold_ms))
    track: list[dict[str, Any]] = []
    for s in shapes:
        cue: dict[str, Any] = {"t_ms": s.t_ms, "end_ms": s.end_ms, "viseme": s.viseme, "phoneme": s.phoneme}
        if s.word:
            cue["word"] = s.word
        track.append(cue)
    return track
