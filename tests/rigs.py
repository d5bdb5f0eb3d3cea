"""Tiny rigs built in code for core tests (no files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamer.core.rig import Rig, RigListing, build_rig, parse_rig_config

REFERENCE = Path(__file__).resolve().parent.parent / "frames" / "rig.json"

# face_rig's base path ids that are not simply "{start}_to_{end}".
_PATH_IDS = {
    ("neutral", "blink_closed"): "neutral_to_blink",
    ("speaking_ah", "surprised_ah"): "speaking_ah_to_surprised",
}

FACE_RIG_CONFIG: dict[str, Any] = {
    "axes": {
        "mouth": ["neutral", "smile_soft", "smile_big", "ah", "ee", "uw", "frown"],
        "eyes": ["neutral", "wide", "squint", "blink_closed"],
        "brows": ["neutral", "raise", "furrow"],
    },
    "poses": ["center", "tilt_left_small", "tilt_right_small", "nod_down_small", "nod_up_small"],
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
        {"id": _PATH_IDS.get((a, b), f"{a}_to_{b}"), "start": a, "end": b}
        for a, b in [
            ("neutral", "speaking_ah"),
            ("neutral", "speaking_ee"),
            ("neutral", "speaking_uw"),
            ("neutral", "oh_round"),
            ("neutral", "happy_soft"),
            ("happy_soft", "happy_big"),
            ("neutral", "concerned"),
            ("neutral", "blink_closed"),
            ("speaking_ah", "surprised_ah"),
            ("speaking_ah", "speaking_ee"),
            ("speaking_ee", "speaking_ah"),
            ("speaking_ah", "speaking_uw"),
            ("speaking_uw", "speaking_ah"),
            ("speaking_ah", "oh_round"),
            ("oh_round", "speaking_ah"),
            ("speaking_ee", "speaking_uw"),
            ("speaking_uw", "speaking_ee"),
            ("speaking_ee", "oh_round"),
            ("oh_round", "speaking_ee"),
            ("speaking_uw", "oh_round"),
            ("oh_round", "speaking_uw"),
        ]
    ],
}


def listing_for(config: dict[str, Any], tweens: int = 3, pose_hub: str | None = None) -> RigListing:
    """Every endpoint, every base path at every pose, neutral pose moves from ``pose_hub``.

    ``pose_hub`` defaults to the config's first pose (``center`` for face_rig).
    """
    pose_hub = pose_hub or config["poses"][0]
    files: dict[str, int] = {}
    for expr in config["expressions"]:
        for pose in config["poses"]:
            files[f"endpoints/{expr}__{pose}.png"] = 100
    ts = [round(100 * (i + 1) / (tweens + 1)) for i in range(tweens)]
    dirs = [f"{bp['id']}__{pose}" for bp in config["base_paths"] for pose in config["poses"]]
    dirs += [f"neutral_{pose_hub}_to_neutral_{p}" for p in config["poses"] if p != pose_hub]
    for d in dirs:
        for t in ts:
            files[f"sequences/{d}/{t:03d}.png"] = 10
    return RigListing(files=files)


def make_rig(config: dict[str, Any] | None = None, tweens: int = 3) -> Rig:
    config = json.loads(json.dumps(config or FACE_RIG_CONFIG))
    return build_rig(parse_rig_config(config), listing_for(config, tweens))


def tiny_config() -> dict[str, Any]:
    """Three expressions, two poses: neutral, smile, blink."""
    return {
        "axes": {"mouth": ["closed", "smile", "open"], "eyes": ["open", "shut"]},
        "poses": ["front", "side"],
        "expressions": {
            "neutral": {"mouth": "closed", "eyes": "open"},
            "smile": {"mouth": "smile", "eyes": "open"},
            "talk": {"mouth": "open", "eyes": "open"},
            "blink_closed": {"mouth": "closed", "eyes": "shut"},
        },
        "base_paths": [
            {"id": "neutral_to_smile", "start": "neutral", "end": "smile"},
            {"id": "neutral_to_talk", "start": "neutral", "end": "talk"},
            {"id": "neutral_to_blink", "start": "neutral", "end": "blink_closed"},
        ],
        "blink": {"eyes": "shut"},
    }
