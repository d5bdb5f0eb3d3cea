"""Speech values: synthesized audio with word and phoneme timings, and alignments (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from streamer.speech.units import samples_to_ms

LOW_CONFIDENCE = 0.5  # an alignment whose mean word confidence is under this gets a warning (any aligner)


@dataclass(frozen=True)
class Word:
    """A word of the input text, spoken from ``t_ms`` to ``end_ms`` (milliseconds into the audio)."""

    t_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class Phoneme:
    """A phoneme spoken from ``t_ms`` to ``end_ms``.

    ``symbol`` is the engine's own name (for espeak's English voices a mnemonic such as ``'aI``,
    for its other voices IPA such as ``ˈaɪ``; pauses start with ``_`` or are empty). ``arpabet``
    is its ARPAbet equivalent, vowels with a stress digit (``AY1``), or ``None`` for pauses,
    sounds with no equivalent and every IPA phoneme (lip-sync reads their articulation).
    ``word`` is the text of the word it belongs to, ``None`` for pauses.
    """

    t_ms: int
    end_ms: int
    symbol: str
    arpabet: str | None = None
    word: str | None = None

    @property
    def is_pause(self) -> bool:
        return self.symbol.startswith(("_", "|")) or not self.symbol


@dataclass(frozen=True, eq=False)
class Speech:
    """Mono 16-bit audio and the timings of its words and phonemes (both sorted by ``t_ms``)."""

    samples: npt.NDArray[np.int16]
    sample_rate: int
    words: list[Word] = field(default_factory=list)
    phonemes: list[Phoneme] = field(default_factory=list)
    text: str = ""

    @property
    def duration_ms(self) -> int:
        """Length of the audio in whole milliseconds, rounded up."""
        return samples_to_ms(len(self.samples), self.sample_rate)


@dataclass(frozen=True)
class AlignedWord:
    """A transcript word placed in a recording, with how sure the aligner is (0..1)."""

    t_ms: int
    end_ms: int
    text: str
    confidence: float = 1.0


@dataclass(frozen=True)
class Alignment:
    """Where a transcript's words and phonemes fall in a recording (the result of any aligner).

    ``words`` are the placed words, sorted; ``unplaced`` the transcript words the aligner could
    not place (reported, never invented); ``phonemes`` feed the lip-sync; ``provider`` names
    what produced it (``offline``, ``elevenlabs``, ``whisper``, ``textgrid``, ``loudness``...);
    ``warnings`` are readable lines for the user (a fallback taken, a low confidence).
    """

    words: list[AlignedWord]
    phonemes: list[Phoneme]
    duration_ms: int
    provider: str
    unplaced: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        """The mean word confidence (0 when nothing was placed)."""
        return sum(w.confidence for w in self.words) / len(self.words) if self.words else 0.0
