"""Lip-sync: phoneme timings to a v1 ``speech`` track, and whole v1 timelines for speech (pure, no I/O).

A chain of small passes over integer milliseconds: phonemes become mouth shapes (vowels
through the rig's viseme map, other sounds relax to ``neutral``, pauses leave the mouth to
the emotion), silences shorter than ``min_hold_ms`` are bridged, equal neighbours merge, and
shapes shorter than ``min_hold_ms`` are merged into a neighbour (a short vowel may instead
borrow time from a long consonant) so the face never flickers.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamer.core.rig import DEFAULT_VISEMES
from streamer.core.timeline import parse_timeline
from streamer.speech.model import Phoneme, Speech

NEUTRAL = "neutral"
TAIL_MS = 500  # how long a speech timeline holds after its audio ends
_MAX_PHONEME_LABEL = 16
_MAX_WORD = 200


@dataclass
class _Shape:
    t_ms: int
    end_ms: int
    viseme: str
    phoneme: str
    word: str | None
    version: int = 0
    alive: bool = True

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.t_ms


def viseme_for(phoneme: Phoneme, visemes_map: Mapping[str, str]) -> str | None:
    """The mouth shape for one phoneme: ``None`` for a pause, ``neutral`` for unmapped sounds."""
    if phoneme.arpabet is None:
        return None if phoneme.is_pause else NEUTRAL
    return visemes_map.get(phoneme.arpabet.rstrip("012"), NEUTRAL)


def _shapes(phonemes: Sequence[Phoneme], visemes_map: Mapping[str, str]) -> list[_Shape]:
    """One shape per sounding phoneme, clipped so that none overlaps the one before."""
    out: list[_Shape] = []
    for p in sorted(phonemes, key=lambda p: (p.t_ms, p.end_ms)):
        viseme = viseme_for(p, visemes_map)
        t_ms = max(p.t_ms, out[-1].end_ms) if out else p.t_ms
        if viseme is None or p.end_ms <= t_ms:
            continue
        label = (p.arpabet or p.symbol)[:_MAX_PHONEME_LABEL]
        out.append(_Shape(t_ms, p.end_ms, viseme, label, p.word[:_MAX_WORD] if p.word else None))
    return out


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
        else:
            out.append(s)
    return out


def _absorb_short(shapes: list[_Shape], min_hold_ms: int) -> list[_Shape]:
    """Merge every shape shorter than ``min_hold_ms`` into a touching neighbour, shortest first.

    The merged span keeps the neighbour's shape, except that a vowel shape beats ``neutral``.
    A neighbour with a vowel shape is preferred, then the shorter one, then the earlier one.
    A short vowel next to a ``neutral`` shape that can spare the time (and stay at least
    ``min_hold_ms``) takes just what it needs from it instead, so the consonant still shows.
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
        k.version += 1
        unlink(gone)

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
        if s.viseme != NEUTRAL:
            # A short vowel borrows from a long relaxed neighbour rather than swallowing it.
            spare = [j for j in options if shapes[j].viseme == NEUTRAL and shapes[j].duration_ms - need >= min_hold_ms]
            if spare:
                j = max(spare, key=lambda j: (shapes[j].duration_ms, j < i))
                if j < i:
                    shapes[j].end_ms -= need
                    s.t_ms -= need
                else:
                    shapes[j].t_ms += need
                    s.end_ms += need
                shapes[j].version += 1
                s.version += 1
                continue
        j = min(options, key=lambda j: (shapes[j].viseme == NEUTRAL, shapes[j].duration_ms, j > i))
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
    phonemes: Sequence[Phoneme], visemes_map: Mapping[str, str] = DEFAULT_VISEMES, min_hold_ms: int = 60
) -> list[dict[str, Any]]:
    """The v1 ``speech`` track for ``phonemes`` (ARPAbet in ``Phoneme.arpabet``).

    Vowels take their shape from ``visemes_map`` (ARPAbet without stress digits -> rig
    expression); other sounds become ``neutral``; pauses leave a gap. Returns dicts
    ``{t_ms, end_ms, viseme, phoneme, word}`` (``word`` left out when unknown), sorted, not
    overlapping, each ``end_ms > t_ms``; ``phoneme`` is the sound that chose the shape.
    """
    if min_hold_ms < 0:
        raise ValueError(f"min_hold_ms: must be >= 0, got {min_hold_ms}")
    shapes = _merge_equal(_bridge_gaps(_shapes(phonemes, visemes_map), min_hold_ms))
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


def default_emotion(speech: Speech, expr: str = "happy_soft", transition_ms: int = 400) -> list[dict[str, Any]]:
    """``expr`` from the start, relaxing to ``neutral`` shortly after the last word."""
    last_ms = max([w.end_ms for w in speech.words] + [0]) or speech.duration_ms
    relax_ms = min(last_ms + 250, speech.duration_ms + TAIL_MS - 1)
    track = [{"t_ms": 0, "expr": expr, "transition_ms": transition_ms}]
    if relax_ms > 0:
        track.append({"t_ms": relax_ms, "expr": NEUTRAL, "transition_ms": transition_ms})
    return track


def timeline_for(
    speech: Speech,
    audio_id: str,
    visemes_map: Mapping[str, str] = DEFAULT_VISEMES,
    emotion: Sequence[Mapping[str, Any]] | None = None,
    *,
    pose: Sequence[Mapping[str, Any]] = (),
    min_hold_ms: int = 60,
    seed: int = 7,
) -> dict[str, Any]:
    """A v1 timeline playing ``speech`` (registered as audio ``audio_id``) with lip-sync.

    ``emotion`` is the emotion track (default :func:`default_emotion`); ``pose`` an optional
    pose track. ``duration_ms`` is the audio's length plus half a second. The result is checked
    with :func:`~streamer.core.timeline.parse_timeline`; raises ``TimelineError`` if invalid
    (for example a bad ``audio_id``).
    """
    doc: dict[str, Any] = {
        "version": 1,
        "start": {"expr": NEUTRAL, "pose": "center"},
        "audio": {"id": audio_id, "offset_ms": 0},
        "tracks": {
            "emotion": [dict(k) for k in (default_emotion(speech) if emotion is None else emotion)],
            "speech": speech_track(speech.phonemes, visemes_map, min_hold_ms),
            "words": [{"t_ms": w.t_ms, "end_ms": w.end_ms, "text": w.text[:500]} for w in speech.words],
        },
        "idle": {"blink": True, "seed": seed},
        "duration_ms": speech.duration_ms + TAIL_MS,
    }
    if pose:
        doc["tracks"]["pose"] = [dict(k) for k in pose]
    parse_timeline(doc)
    return doc
