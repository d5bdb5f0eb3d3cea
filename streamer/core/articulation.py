"""How a sound is made, from its IPA symbol, and the mouth shape that shows it (pure, data).

Lip-sync for any language rests on articulation rather than on one language's phone list: a
vowel's height, backness and lip rounding, and a consonant's lip closure (bilabial) or lip
to teeth contact (labiodental), decide its *mouth class*; the rig maps classes to its own
expressions (``visemes`` in rig.json, see :func:`streamer.speech.lipsync.visemes.viseme_for`).

Mouth classes::

    closed       lips together: p b m, their variants (pʰ bʲ mː ɓ) and ɸ β ʙ, k͡p ɡ͡b
    open         open and central vowels, rounded or not: a ɑ ɐ æ ʌ ə ɜ ɒ ɶ
    spread       close and mid unrounded vowels: i ɪ e ɛ ɨ ɘ ɯ ɤ
    rounded      close rounded vowels: u ʊ y ʏ ʉ
    round        mid rounded vowels: o ɔ ø œ ɵ ɞ
    labiodental  lower lip to upper teeth: f v ɱ ʋ
    rest         every other consonant (tongue sounds: the lips relax)

A symbol may carry stress (ˈ ˌ), length (ː), diacritics (nasal ̃, ʰ ʲ ʷ ᵝ), tone digits and
espeak's ASCII fallbacks; they do not change the class. A diphthong takes the class of its
most open vowel (``aɪ`` is open, ``uo`` round).

Public API::

    articulation(symbol) -> Articulation | None     the features of an IPA symbol, None for silence/unknown
    mouth_class(symbol) -> str | None               one of MOUTH_CLASSES, None for silence/unknown
    ARPABET_IPA                                     ARPAbet (no stress digit) -> IPA, for English phones
    CLASS_ARPABET                                   each class's ARPAbet stand-in (a rig's ARPAbet map serves it)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

MOUTH_CLASSES = ("closed", "open", "spread", "rounded", "round", "labiodental", "rest")

# Vowels: (height 0 close .. 6 open, backness 0 front / 1 central / 2 back, rounded).
VOWELS: Mapping[str, tuple[int, int, bool]] = {
    "i": (0, 0, False), "y": (0, 0, True), "ɨ": (0, 1, False), "ʉ": (0, 1, True),
    "ɯ": (0, 2, False), "u": (0, 2, True),
    "ɪ": (1, 0, False), "ʏ": (1, 0, True), "ᵻ": (1, 1, False), "ᵿ": (1, 1, True), "ʊ": (1, 2, True),
    "e": (2, 0, False), "ø": (2, 0, True), "ɘ": (2, 1, False), "ɵ": (2, 1, True),
    "ɤ": (2, 2, False), "o": (2, 2, True),
    "ə": (3, 1, False), "ɚ": (3, 1, False),
    "ɛ": (4, 0, False), "œ": (4, 0, True), "ɜ": (4, 1, False), "ɝ": (4, 1, False), "ɞ": (4, 1, True),
    "ʌ": (4, 2, False), "ɔ": (4, 2, True),
    "æ": (5, 0, False), "ɐ": (5, 1, False),
    "a": (6, 0, False), "ɶ": (6, 0, True), "ɑ": (6, 2, False), "ɒ": (6, 2, True),
}  # fmt: skip
BILABIAL = frozenset("pbmɓʙɸβ")
LABIODENTAL = frozenset("fvɱʋⱱ")
# Letters that are consonants (IPA and espeak's ASCII ones); anything else that is not a vowel is ignored.
CONSONANTS = (
    frozenset("pbtdʈɖcɟkgɡqɢʔmɱnɳɲŋɴʙrʀⱱɾɽɸβfvθðszʃʒʂʐçʝxɣχʁħʕhɦɬɮʋɹɻjɰlɭʎʟɓɗʄɠʛʍwɥʜʢʡɕʑɺɧʘǀǃǂǁɫ")
    | BILABIAL
    | LABIODENTAL
)
# Marks that change neither the vowel nor the place: stress, length, tie bars, espeak's ASCII
# fallback marks, and tone letters. Combining marks and modifier letters (ʰ ʲ ̃ ᵝ) go too.
_IGNORED = frozenset("ˈˌ'ː:ˑ͜͡%=,;\"-#/[]^~!*.|_0123456789˥˦˧˨˩")

# English phones in ARPAbet (CMUdict), as IPA: for phonemes that carry ARPAbet but no IPA.
ARPABET_IPA: Mapping[str, str] = {
    "AA": "ɑ", "AE": "æ", "AH": "ʌ", "AO": "ɔ", "AW": "aʊ", "AY": "aɪ", "EH": "ɛ", "ER": "ɝ",
    "EY": "eɪ", "IH": "ɪ", "IY": "i", "OW": "oʊ", "OY": "ɔɪ", "UH": "ʊ", "UW": "u",
    "B": "b", "CH": "tʃ", "D": "d", "DH": "ð", "F": "f", "G": "ɡ", "HH": "h", "JH": "dʒ", "K": "k",
    "L": "l", "M": "m", "N": "n", "NG": "ŋ", "P": "p", "R": "ɹ", "S": "s", "SH": "ʃ", "T": "t",
    "TH": "θ", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "ʒ",
}  # fmt: skip
# The ARPAbet phone whose shape in a rig's ARPAbet-only map stands for a class (face_rig rigs
# map vowels only: AA -> speaking_ah and so on). "rest" has none: it relaxes to neutral.
CLASS_ARPABET: Mapping[str, str] = {
    "closed": "M", "open": "AA", "spread": "IY", "rounded": "UW", "round": "OW", "labiodental": "F",
}  # fmt: skip


@dataclass(frozen=True)
class Articulation:
    """A sound's features: for a vowel its nucleus's height (0 close .. 6 open), backness and
    rounding; for a consonant its lip contact (``bilabial`` or ``labiodental``) or neither."""

    vowel: bool
    height: int = 0
    backness: int = 0
    rounded: bool = False
    bilabial: bool = False
    labiodental: bool = False


def _letters(symbol: str) -> list[str]:
    out = []
    for ch in unicodedata.normalize("NFD", symbol):
        if ch in _IGNORED or unicodedata.combining(ch) or unicodedata.category(ch) in ("Lm", "Sk", "Zs", "Cc"):
            continue
        out.append(ch)
    return out


def articulation(symbol: str) -> Articulation | None:
    """The features of the IPA ``symbol`` (``"ˈaɪ"``, ``"ɔ̃"``, ``"bʲ"``), ``None`` when it names no sound.

    A symbol with a vowel is a vowel (its most open vowel is the nucleus; a syllabic consonant
    such as ``n̩`` stays a consonant). A consonant cluster or affricate is bilabial when any
    part is (``mb``, ``pf``, ``k͡p``), else labiodental when any part is.
    """
    letters = _letters(symbol)
    vowels = [VOWELS[ch] for ch in letters if ch in VOWELS]
    if vowels:
        height, backness, rounded = max(vowels, key=lambda v: v[0])  # max() keeps the first of equals
        return Articulation(True, height, backness, rounded)
    consonants = [ch for ch in letters if ch in CONSONANTS]
    if not consonants:
        return None
    return Articulation(
        False,
        bilabial=any(ch in BILABIAL for ch in consonants),
        labiodental=any(ch in LABIODENTAL for ch in consonants),
    )


def class_of(art: Articulation) -> str:
    """The mouth class (one of :data:`MOUTH_CLASSES`) of a sound with features ``art``."""
    if not art.vowel:
        return "closed" if art.bilabial else "labiodental" if art.labiodental else "rest"
    if art.rounded:
        return "rounded" if art.height <= 1 else "round" if art.height <= 4 else "open"
    # Unrounded: front vowels down to open-mid spread the lips; central and back ones only when close.
    spread_down_to = 4 if art.backness == 0 else 2
    return "spread" if art.height <= spread_down_to else "open"


def mouth_class(symbol: str) -> str | None:
    """The mouth class of the IPA ``symbol``, or ``None`` when it names no sound (a pause)."""
    art = articulation(symbol)
    return None if art is None else class_of(art)
