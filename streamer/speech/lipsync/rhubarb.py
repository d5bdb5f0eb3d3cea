"""Rhubarb Lip Sync's mouth shapes: the cue value and how shapes relate to sounds and rig expressions (pure).

Rhubarb names nine mouth drawings: ``A`` closed (P B M), ``B`` slightly open, clenched teeth
(most consonants, EE), ``C`` open (EH AE), ``D`` wide open (AA), ``E`` slightly rounded (AO
ER), ``F`` puckered (UW OW W), ``G`` upper teeth on the lower lip (F V), ``H`` tongue raised
for a long L, and ``X`` rest (pauses).

Both directions go through sounds, so a rig's own viseme map (``rig.json`` ``visemes``) is
honoured everywhere:

- our cue -> shape: the cue's ``phoneme`` (ARPAbet) picks the shape (:data:`ARPABET_SHAPES`,
  other consonants ``B``); a cue without a known phoneme falls back to its ``viseme`` through
  the vowels the rig maps to it (``neutral`` is ``A``); a gap is ``X``.
- shape -> rig expression: each shape stands for one sound (:data:`SHAPE_SOUNDS`) whose shape
  in the rig's viseme map is used (``A`` -> M, ``B`` -> IY, ``C`` -> EH, ``D`` -> AA, ``E`` ->
  AO, ``F`` -> UW, ``G`` -> F, ``H`` -> AH, as it is open between ``C`` and ``D``). A sound with
  no shape of its own, or one the rig lacks, is ``neutral``; ``X`` leaves a gap (the mouth
  rests in the emotion's own shape). With the default map that is: A, G -> ``neutral``;
  B, C -> ``speaking_ee``; D, E, H -> ``speaking_ah``; F -> ``speaking_uw``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streamer.speech.lipsync.arpabet import CONSONANTS, base

SHAPES = "ABCDEFGHX"
REST = "X"
NEUTRAL = "neutral"

# ARPAbet (no stress digit) -> Rhubarb shape; diphthongs take their first part's shape.
ARPABET_SHAPES: Mapping[str, str] = {
    **dict.fromkeys(("P", "B", "M"), "A"),
    **dict.fromkeys(("IY", "IH"), "B"),
    **dict.fromkeys(("EH", "AE", "AH", "EY"), "C"),
    **dict.fromkeys(("AA", "AY", "AW"), "D"),
    **dict.fromkeys(("AO", "ER", "OY"), "E"),
    **dict.fromkeys(("UW", "UH", "OW", "W"), "F"),
    **dict.fromkeys(("F", "V"), "G"),
    "L": "H",
}
# Rhubarb shape -> (the label it gets as a cue's ``phoneme``, the sound whose rig shape it shows).
SHAPE_SOUNDS: Mapping[str, tuple[str, str]] = {
    "A": ("M", "M"),
    "B": ("IY", "IY"),
    "C": ("EH", "EH"),
    "D": ("AA", "AA"),
    "E": ("AO", "AO"),
    "F": ("UW", "UW"),
    "G": ("F", "F"),
    "H": ("L", "AH"),
}


@dataclass(frozen=True)
class MouthCue:
    """Rhubarb shape ``shape`` (one of ``A``-``H``, ``X``) shown from ``t_ms`` to ``end_ms``."""

    t_ms: int
    end_ms: int
    shape: str


def shape_for_arpabet(arpabet: str) -> str | None:
    """The Rhubarb shape of an ARPAbet sound (stress digits ignored); ``None`` if it is not ARPAbet."""
    phone = base(arpabet.upper())
    if phone in ARPABET_SHAPES:
        return ARPABET_SHAPES[phone]
    return "B" if phone in CONSONANTS else None


def shape_for_cue(viseme: str, phoneme: str | None, visemes_map: Mapping[str, str]) -> str:
    """The Rhubarb shape for one of our speech cues (see the module docstring)."""
    if phoneme:
        found = shape_for_arpabet(phoneme)
        if found is not None:
            return found
    if viseme == NEUTRAL:
        return "A"
    for sound, expr in visemes_map.items():
        if expr == viseme:
            found = shape_for_arpabet(sound)
            if found is not None:
                return found
    return "B"


def expression_for_shape(shape: str, visemes_map: Mapping[str, str], expressions: Iterable[str]) -> str | None:
    """The rig expression showing Rhubarb ``shape``; ``None`` for ``X`` (or a rig without ``neutral``)."""
    if shape not in SHAPE_SOUNDS:
        return None
    known = set(expressions)
    _, sound = SHAPE_SOUNDS[shape]
    expr = visemes_map.get(sound, NEUTRAL)
    if expr in known:
        return expr
    return NEUTRAL if NEUTRAL in known else None
