"""The demo rig's layout: face_rig's expressions, poses and paths, and the files they imply (pure, no I/O).

The demo rig is face_rig's layout plus what a real rig would add: each emotion drawn with the
speaking mouths (``happy_soft_ee``, ``surprised_uw``, ...) and with its own head moves
(``happy_soft_center_to_happy_soft_nod_down_small``), so the emotion stays on the face while
the character talks and nods instead of giving way to the plain speaking shapes or neutral.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

RIG_NAME = "Pip"

# Identical to face_rig's expressions.json (same keys, same order), so the demo rig is a drop-in.
FACE_RIG_SPEC: dict[str, Any] = {
    "axes": {
        "mouth": ["neutral", "smile_soft", "smile_big", "ah", "ee", "uw", "frown"],
        "eyes": ["neutral", "wide", "squint", "blink_closed"],
        "brows": ["neutral", "raise", "furrow"],
    },
    "poses": [
        "center",
        "tilt_left_small",
        "tilt_right_small",
        "nod_down_small",
        "nod_up_small",
    ],
    "expressions": {
        "neutral": {"mouth": "neutral", "eyes": "neutral", "brows": "neutral"},
        "happy_soft": {"mouth": "smile_soft", "eyes": "squint", "brows": "neutral"},
        "happy_big": {"mouth": "smile_big", "eyes": "squint", "brows": "raise"},
        "speaking_ah": {"mouth": "ah", "eyes": "neutral", "brows": "neutral"},
        "surprised_ah": {"mouth": "ah", "eyes": "wide", "brows": "raise"},
        "speaking_ee": {"mouth": "ee", "eyes": "neutral", "brows": "neutral"},
        "speaking_uw": {"mouth": "uw", "eyes": "neutral", "brows": "neutral"},
        "oh_round": {"mouth": "uw", "eyes": "neutral", "brows": "raise"},
        "concerned": {"mouth": "frown", "eyes": "squint", "brows": "furrow"},
        "blink_closed": {"mouth": "neutral", "eyes": "blink_closed", "brows": "neutral"},
    },
    "base_paths": [
        {"id": "neutral_to_speaking_ah", "start": "neutral", "end": "speaking_ah"},
        {"id": "speaking_ah_to_surprised", "start": "speaking_ah", "end": "surprised_ah"},
        {"id": "neutral_to_speaking_ee", "start": "neutral", "end": "speaking_ee"},
        {"id": "neutral_to_speaking_uw", "start": "neutral", "end": "speaking_uw"},
        {"id": "neutral_to_oh_round", "start": "neutral", "end": "oh_round"},
        {"id": "neutral_to_happy_soft", "start": "neutral", "end": "happy_soft"},
        {"id": "happy_soft_to_happy_big", "start": "happy_soft", "end": "happy_big"},
        {"id": "neutral_to_concerned", "start": "neutral", "end": "concerned"},
        {"id": "neutral_to_blink", "start": "neutral", "end": "blink_closed"},
        {"id": "speaking_ah_to_speaking_ee", "start": "speaking_ah", "end": "speaking_ee"},
        {"id": "speaking_ee_to_speaking_ah", "start": "speaking_ee", "end": "speaking_ah"},
        {"id": "speaking_ah_to_speaking_uw", "start": "speaking_ah", "end": "speaking_uw"},
        {"id": "speaking_uw_to_speaking_ah", "start": "speaking_uw", "end": "speaking_ah"},
        {"id": "speaking_ah_to_oh_round", "start": "speaking_ah", "end": "oh_round"},
        {"id": "oh_round_to_speaking_ah", "start": "oh_round", "end": "speaking_ah"},
        {"id": "speaking_ee_to_speaking_uw", "start": "speaking_ee", "end": "speaking_uw"},
        {"id": "speaking_uw_to_speaking_ee", "start": "speaking_uw", "end": "speaking_ee"},
        {"id": "speaking_ee_to_oh_round", "start": "speaking_ee", "end": "oh_round"},
        {"id": "oh_round_to_speaking_ee", "start": "oh_round", "end": "speaking_ee"},
        {"id": "speaking_uw_to_oh_round", "start": "speaking_uw", "end": "oh_round"},
        {"id": "oh_round_to_speaking_uw", "start": "oh_round", "end": "speaking_uw"},
    ],
}

# Emotions that talk, and the stem of their speaking variants' names (surprised_ah -> surprised_ee).
TALKING_EMOTIONS: tuple[tuple[str, str], ...] = (
    ("happy_soft", "happy_soft"),
    ("happy_big", "happy_big"),
    ("concerned", "concerned"),
    ("surprised_ah", "surprised"),
)
SPEAKING_MOUTHS: tuple[str, ...] = ("ah", "ee", "uw")

TWEEN_TS: tuple[float, ...] = (0.25, 0.5, 0.75)
# Between an emotion's speaking mouths one in-between is enough: speech changes take ~60 ms,
# two or three frames at most, and it keeps the committed rig small.
TALK_TWEEN_TS: tuple[float, ...] = (0.5,)
POSE_HUB = "center"


def _talking() -> tuple[dict[str, dict[str, str]], list[dict[str, str]], dict[str, str]]:
    """The speaking variants' expressions, the paths joining each emotion's family, and variant -> emotion."""
    base = FACE_RIG_SPEC["expressions"]
    expressions: dict[str, dict[str, str]] = {}
    paths: list[dict[str, str]] = []
    variant_of: dict[str, str] = {}
    for emotion, stem in TALKING_EMOTIONS:
        family = [emotion]
        for mouth in SPEAKING_MOUTHS:
            if base[emotion]["mouth"] == mouth:
                continue  # surprised_ah already speaks "ah"
            name = f"{stem}_{mouth}"
            expressions[name] = {**base[emotion], "mouth": mouth}
            variant_of[name] = emotion
            family.append(name)
        paths += [{"id": f"{a}_to_{b}", "start": a, "end": b} for a, b in combinations(family, 2)]
    return expressions, paths, variant_of


_TALK_EXPRESSIONS, _TALK_PATHS, VARIANT_OF = _talking()
TALK_PATH_IDS = frozenset(p["id"] for p in _TALK_PATHS)

RIG_SPEC: dict[str, Any] = {
    **FACE_RIG_SPEC,
    "expressions": {**FACE_RIG_SPEC["expressions"], **_TALK_EXPRESSIONS},
    "base_paths": [*FACE_RIG_SPEC["base_paths"], *_TALK_PATHS],
}


# Expressions that move the head through their own sequences (neutral's are face_rig's); the
# emotions keep their face through a nod instead of passing through neutral.
POSE_MOVERS: tuple[str, ...] = ("neutral", *(emotion for emotion, _ in TALKING_EMOTIONS))


def path_tweens(path_id: str) -> tuple[float, ...]:
    """The in-between ``t`` values drawn for base path ``path_id``."""
    return TALK_TWEEN_TS if path_id in TALK_PATH_IDS else TWEEN_TS


def frame_file(t: float) -> str:
    """``0.25`` -> ``"025.png"``."""
    return f"{round(t * 100):03d}.png"
