"""The demo rig's layout: face_rig's expressions, poses and paths, and the files they imply (pure, no I/O)."""

from __future__ import annotations

from typing import Any

RIG_NAME = "Pip"

# Identical to face_rig's expressions.json (same keys, same order), so the demo rig is a drop-in.
RIG_SPEC: dict[str, Any] = {
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

TWEEN_TS: tuple[float, ...] = (0.25, 0.5, 0.75)
POSE_HUB = "center"


def frame_file(t: float) -> str:
    """``0.25`` -> ``"025.png"``."""
    return f"{round(t * 100):03d}.png"
