"""Tiny rigs built in code for core tests (no files)."""

from __future__ import annotations

import json
from typing import Any

from streamer.core.rig import Rig, RigListing, build_rig, parse_rig_config
from streamer.demo.build import plan_rig
from streamer.demo.spec import FACE_RIG_SPEC, RIG_SPEC

# face_rig's expressions.json: a rig whose emotions have no speaking mouths.
FACE_RIG_CONFIG: dict[str, Any] = FACE_RIG_SPEC
# The demo rig's layout: face_rig's plus each emotion's speaking mouths.
DEMO_CONFIG: dict[str, Any] = RIG_SPEC


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


def demo_rig() -> Rig:
    """The demo rig as ``streamer rig demo`` writes it, built from its plan (no files read)."""
    plan = plan_rig()
    documents = dict(plan.documents)
    manifests = {key.split("/")[1]: doc for key, doc in documents.items() if key.endswith("/manifest.json")}
    files = dict.fromkeys((job.key for job in plan.frames), 100)
    return build_rig(parse_rig_config(documents["rig.json"]), RigListing(files=files, manifests=manifests))


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
