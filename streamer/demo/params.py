"""Numeric face parameters for the demo character, its expressions and poses, and tweening (pure, no I/O).

A frame of the demo rig is fully described by one :class:`FaceParams`. Expressions set the mouth,
eye and brow fields from the rig's axes; poses set the head fields. Tweens interpolate the
numbers (with a smoothstep ease), so an in-between frame is a real in-between face, not a
cross-fade of two pictures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from streamer.demo.spec import RIG_SPEC, VARIANT_OF


@dataclass(frozen=True)
class FaceParams:
    """Everything that varies between frames of the demo character, as plain numbers.

    Lengths (``brow_height``, ``head_dx``, ``head_dy``, ``face_dy``, ``ear_dy``) are in scale
    units: 1.0 is the canvas width of a 2:3 canvas, so the same values fit every size.
    """

    # mouth
    mouth_open: float = 0.0  # 0 closed .. 1 wide open (jaw drops with it)
    mouth_width: float = 1.0  # multiplier of the neutral width
    mouth_smile: float = 0.45  # corner lift; negative is a frown
    mouth_round: float = 0.0  # 0 wide/flat .. 1 round, puckered lips
    teeth_upper: float = 0.0  # 0 hidden .. 1 full upper teeth band
    teeth_lower: float = 0.0
    tongue: float = 0.0
    # eyes
    eyelid_upper: float = 0.0  # 0 open .. 1 closed
    eye_wide: float = 0.0
    eye_squint: float = 0.0  # happy squint: lower lid pushed up by the cheeks
    # brows
    brow_height: float = 0.0  # positive is up
    brow_angle: float = 0.0  # degrees; positive raises the inner ends (worry)
    brow_knit: float = 0.0  # 0 .. 1, inner ends drawn together
    # cheeks
    blush: float = 0.3
    # head pose (the neck and shoulders never move)
    head_angle_deg: float = 0.0  # positive tilts the top of the head to the viewer's left
    head_dx: float = 0.0
    head_dy: float = 0.0
    head_scale_y: float = 1.0  # vertical foreshortening of a nod
    face_dy: float = 0.0  # features slide on the skull when nodding (down is positive)
    ear_dy: float = 0.0  # ears move against the features when nodding


# Each axis value overrides some FaceParams defaults. Blush rides on the mouth axis: smiles blush.
MOUTHS: dict[str, dict[str, float]] = {
    "neutral": {},
    "smile_soft": {"mouth_smile": 0.75, "mouth_width": 1.15, "blush": 0.6},
    "smile_big": {
        "mouth_smile": 1.0,
        "mouth_width": 1.6,
        "mouth_open": 0.72,
        "teeth_upper": 1.0,
        "tongue": 0.55,
        "blush": 0.95,
    },
    "ah": {
        "mouth_open": 0.9,
        "mouth_width": 0.95,
        "mouth_smile": 0.1,
        "mouth_round": 0.2,
        "teeth_upper": 0.6,
        "tongue": 1.0,
    },
    "ee": {"mouth_open": 0.38, "mouth_width": 1.5, "mouth_smile": 0.35, "teeth_upper": 1.0, "teeth_lower": 1.0},
    "uw": {"mouth_open": 0.36, "mouth_width": 0.5, "mouth_smile": 0.0, "mouth_round": 1.0, "tongue": 0.3},
    "frown": {"mouth_smile": -0.8, "mouth_width": 0.85, "mouth_open": 0.0},
}

EYES: dict[str, dict[str, float]] = {
    "neutral": {},
    "wide": {"eye_wide": 1.0},
    "squint": {"eye_squint": 1.0},
    "blink_closed": {"eyelid_upper": 1.0},
}

BROWS: dict[str, dict[str, float]] = {
    "neutral": {},
    "raise": {"brow_height": 0.022, "brow_angle": 3.0},
    "furrow": {"brow_height": -0.006, "brow_angle": 14.0, "brow_knit": 1.0},
}

POSES: dict[str, dict[str, float]] = {
    "center": {},
    "tilt_left_small": {"head_angle_deg": 7.0, "head_dx": -0.012, "head_dy": 0.004},
    "tilt_right_small": {"head_angle_deg": -7.0, "head_dx": 0.012, "head_dy": 0.004},
    "nod_down_small": {"head_dy": 0.012, "head_scale_y": 0.975, "face_dy": 0.022, "ear_dy": -0.014},
    "nod_up_small": {"head_dy": -0.01, "head_scale_y": 0.985, "face_dy": -0.018, "ear_dy": 0.012},
}


def expression_params(expr: str, pose: str = "center", spec: dict[str, Any] | None = None) -> FaceParams:
    """The parameters of expression ``expr`` (a name in the rig spec) at head pose ``pose``.

    Raises ``KeyError`` naming the unknown expression, axis value or pose.
    """
    spec = RIG_SPEC if spec is None else spec
    try:
        axes = spec["expressions"][expr]
    except KeyError:
        raise KeyError(f"unknown expression {expr!r}") from None
    values: dict[str, float] = {}
    for table, axis in ((MOUTHS, "mouth"), (EYES, "eyes"), (BROWS, "brows")):
        name = axes[axis]
        if name not in table:
            raise KeyError(f"unknown {axis} value {name!r} in expression {expr!r}")
        values.update(table[name])
    emotion = VARIANT_OF.get(expr)
    if emotion is not None and emotion in spec["expressions"]:
        values.update(_talking_carry(spec["expressions"][emotion]["mouth"], values))
    if pose not in POSES:
        raise KeyError(f"unknown pose {pose!r}")
    values.update(POSES[pose])
    return FaceParams(**values)


def _talking_carry(emotion_mouth: str, values: dict[str, float]) -> dict[str, float]:
    """What an emotion's speaking variant keeps of the emotion's own mouth: its blush, so the
    cheeks do not flicker with the words, and half of its smile (or frown) at the corners."""
    neutral = FaceParams()
    own = MOUTHS[emotion_mouth]
    lift = own.get("mouth_smile", neutral.mouth_smile) - neutral.mouth_smile
    return {
        "blush": own.get("blush", neutral.blush),
        "mouth_smile": values.get("mouth_smile", neutral.mouth_smile) + 0.5 * lift,
    }


def smoothstep(t: float) -> float:
    """Ease in and out: 0 -> 0, 0.5 -> 0.5, 1 -> 1, with zero slope at both ends."""
    t = min(1.0, max(0.0, t))
    return t * t * (3.0 - 2.0 * t)


def interpolate(a: FaceParams, b: FaceParams, t: float, ease: bool = True) -> FaceParams:
    """The face a fraction ``t`` of the way from ``a`` to ``b`` (eased unless ``ease`` is false)."""
    k = smoothstep(t) if ease else t
    values = {
        f.name: getattr(a, f.name) + (getattr(b, f.name) - getattr(a, f.name)) * k
        for f in dataclasses.fields(FaceParams)
    }
    return FaceParams(**values)
