"""The ARPAbet phone set that every lip-sync path speaks (pure, no I/O).

Phonemes carry ARPAbet (CMUdict's 39 phones) with a stress digit on vowels (``AY1``); rig
viseme maps, Rhubarb shapes, TextGrids and espeak's mnemonics all meet here.
"""

from __future__ import annotations

VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())  # noqa: SIM905
CONSONANTS = frozenset("B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split())  # noqa: SIM905
PHONES = VOWELS | CONSONANTS


def base(arpabet: str) -> str:
    """The phone without its stress digit: ``"AY1"`` -> ``"AY"``."""
    return arpabet.rstrip("012")


def is_vowel(arpabet: str) -> bool:
    """Whether ``arpabet`` (stress digit or not) is a vowel."""
    return base(arpabet) in VOWELS
