"""Import a PNGTuber Plus avatar (its ``.save`` file) as a rig, each expression in the tool's matching state (does I/O).

PNGTuber Plus (github.com/kaiakairos/PNGTuber-Plus, a Godot app) saves an avatar as one JSON
object of sprites, ``{"0": {...}, "1": {...}}``, each with its PNG embedded (``imageData``,
base64), read and written by ``main.gd`` and drawn by ``spriteObject.gd``. The fields we use:

- ``imageData``: the sprite's PNG; with ``frames`` > 1 it is a horizontal strip and frame 0 is used.
- ``identification`` / ``parentId``: the sprite tree. ``pos`` (``"Vector2(x, y)"``) is relative
  to the parent (to the avatar's origin for a root); the image is drawn centred on
  ``pos + offset``.
- ``zindex``: relative to the parent's (Godot's default), then tree order (a parent before its
  children, siblings in file order).
- ``showTalk``: 0 always, 1 only while silent, 2 only while talking; ``showBlink``: 0 always,
  1 only with the eyes open, 2 only while blinking. (Godot fades only the sprite itself, not its
  children, for these.)
- ``costumeLayers``: ``"[1, 0, ...]"``, one flag per costume; a sprite hidden in the costume is
  hidden with its children.

The tool has two states per axis (talking or not, blinking or not); our expressions map onto
them: a mouth in :data:`TALKING_MOUTHS` is "talking", the eyes ``blink_closed`` are "blinking",
everything else (smiles, frowns, brows, wide or squinting eyes) is drawn as the neutral face, and
the report lists those expressions. Head poses are the whole avatar turned by
:data:`streamer.rigs.layers.POSE_TRANSFORMS`. Not imported: wobble, drag, bounce, rotation and
stretch (motion the player adds), animation frames past the first, clip masks, the other
costumes (choose one with ``costume``) and the app's settings.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from streamer.core.errors import RigError, StreamerError
from streamer.rigs.layers import POSE_TRANSFORMS, load_config, transform, write_rig
from streamer.rigs.tween import Progress

TALKING_MOUTHS = frozenset({"ah", "ee", "uw"})
PADDING = 0.08  # of the avatar's larger side, around it, so head poses do not cut it off
_VECTOR = re.compile(r"^\s*Vector2i?\(\s*(-?[\d.]+(?:e-?\d+)?)\s*,\s*(-?[\d.]+(?:e-?\d+)?)\s*\)\s*$")


@dataclass(frozen=True)
class Sprite:
    """One sprite of the avatar, as saved."""

    key: str
    ident: int
    parent: int | None
    image: Image.Image
    pos: tuple[float, float]
    offset: tuple[float, float]
    z: int
    show_talk: int
    show_blink: int
    costumes: tuple[int, ...]

    def shown(self, talking: bool, blinking: bool) -> bool:
        """Whether the tool draws this sprite itself in that state (``talkBlink`` in spriteObject.gd)."""
        talk_ok = self.show_talk == 0 or (self.show_talk == 2) == talking
        blink_ok = self.show_blink == 0 or (self.show_blink == 2) == blinking
        return talk_ok and blink_ok


@dataclass
class ImportReport:
    """What the import drew: sprites, expressions only approximated by a talk/blink state, endpoints written."""

    sprites: int = 0
    costume: int = 1
    approximated: list[str] = field(default_factory=list)
    endpoints: int = 0


def is_pngtuber_save(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".save"


def _vector(value: Any, where: str) -> tuple[float, float]:
    match = _VECTOR.match(value) if isinstance(value, str) else None
    if match is None:
        raise RigError([f"{where}: expected a position like 'Vector2(0, 0)', got {value!r}"])
    return float(match.group(1)), float(match.group(2))


def _int(value: Any, where: str, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RigError([f"{where}: expected a number, got {value!r}"])
    return int(value)


def _image(item: dict[str, Any], where: str) -> Image.Image:
    data = item.get("imageData")
    if not isinstance(data, str):
        raise RigError([f"{where}: no imageData (saved by a PNGTuber Plus older than 1.4? save it again)"])
    try:
        with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as img:
            img.load()
            rgba = img.convert("RGBA")
    except (binascii.Error, ValueError, OSError, UnidentifiedImageError) as exc:
        raise RigError([f"{where}: imageData is not a readable PNG ({exc})"]) from exc
    frames = max(1, _int(item.get("frames"), f"{where}: frames", default=1))
    if frames > 1:
        rgba = rgba.crop((0, 0, rgba.width // frames, rgba.height))
    return rgba


def _costumes(value: Any, where: str) -> tuple[int, ...]:
    if value is None:
        return (1,) * 10
    try:
        flags = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        flags = None
    if not isinstance(flags, list) or not all(isinstance(f, int | float) for f in flags):
        raise RigError([f"{where}: expected a list of 0/1 flags like '[1, 1, 0]', got {value!r}"])
    return tuple(int(f) for f in flags)


def parse_save(path: Path) -> list[Sprite]:
    """The sprites of a PNGTuber Plus ``.save``; :class:`RigError` naming the first bad field."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RigError([f"{path}: not a PNGTuber Plus save (cannot read JSON: {exc})"]) from exc
    if not isinstance(doc, dict) or not doc or not all(isinstance(v, dict) for v in doc.values()):
        raise RigError([f"{path}: not a PNGTuber Plus save (expected an object of sprites)"])
    sprites = []
    for key, item in doc.items():
        where = f"{path.name}: sprite {key} ({item.get('path', 'no path')})"
        if item.get("type", "sprite") != "sprite":
            continue
        parent = item.get("parentId")
        sprites.append(
            Sprite(
                key=key,
                ident=_int(item.get("identification"), f"{where}: identification"),
                parent=None if parent is None else _int(parent, f"{where}: parentId"),
                image=_image(item, where),
                pos=_vector(item.get("pos"), f"{where}: pos"),
                offset=_vector(item.get("offset", "Vector2(0, 0)"), f"{where}: offset"),
                z=_int(item.get("zindex"), f"{where}: zindex", default=0),
                show_talk=_int(item.get("showTalk"), f"{where}: showTalk", default=0),
                show_blink=_int(item.get("showBlink"), f"{where}: showBlink", default=0),
                costumes=_costumes(item.get("costumeLayers"), f"{where}: costumeLayers"),
            )
        )
    return sprites


@dataclass(frozen=True)
class _Placed:
    sprite: Sprite
    origin: tuple[float, float]  # the sprite's position in avatar coordinates
    z: int  # after adding the parents'
    order: int  # tree order
    visible: bool  # the sprite and every parent in the costume


def _place(sprites: list[Sprite], costume: int) -> list[_Placed]:
    """Every sprite with its absolute position, z and draw order (Godot's tree rules)."""
    by_id = {s.ident: s for s in sprites}
    children: dict[int | None, list[Sprite]] = {}
    for s in sprites:
        parent = s.parent if s.parent in by_id else None  # a parent not in the file: at the root
        children.setdefault(parent, []).append(s)
    placed: list[_Placed] = []

    def walk(parent: int | None, at: tuple[float, float], z: int, visible: bool) -> None:
        for s in children.get(parent, []):
            own = (at[0] + s.pos[0], at[1] + s.pos[1])
            flags = s.costumes
            shown = visible and costume <= len(flags) and flags[costume - 1] == 1
            placed.append(_Placed(s, own, z + s.z, len(placed), shown))
            walk(s.ident, own, z + s.z, shown)

    walk(None, (0.0, 0.0), 0, True)
    if len(placed) < len(sprites):
        reached = {p.sprite.key for p in placed}
        lost = ", ".join(s.key for s in sprites if s.key not in reached)
        raise RigError([f"sprites {lost}: their parentIds form a loop (no way to the root)"])
    return sorted(placed, key=lambda p: (p.z, p.order))


def _box(p: _Placed) -> tuple[float, float]:
    """Top-left corner of the sprite's image in avatar coordinates (the image is centred on pos + offset)."""
    w, h = p.sprite.image.size
    return p.origin[0] + p.sprite.offset[0] - w / 2, p.origin[1] + p.sprite.offset[1] - h / 2


def render_state(placed: list[_Placed], talking: bool, blinking: bool) -> Image.Image:
    """The avatar as the tool draws it at rest in one state, on a canvas around every sprite of the costume."""
    shown = [p for p in placed if p.visible]
    if not shown:
        raise RigError(["no sprite is visible in this costume"])
    left = min(_box(p)[0] for p in shown)
    top = min(_box(p)[1] for p in shown)
    right = max(_box(p)[0] + p.sprite.image.width for p in shown)
    bottom = max(_box(p)[1] + p.sprite.image.height for p in shown)
    pad = round(PADDING * max(right - left, bottom - top))
    width, height = round(right - left) + 2 * pad, round(bottom - top) + 2 * pad
    canvas = Image.new("RGBA", (width + width % 2, height + height % 2), (0, 0, 0, 0))
    for p in shown:
        if p.sprite.shown(talking, blinking):
            x, y = _box(p)
            layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
            layer.paste(p.sprite.image, (round(x - left) + pad, round(y - top) + pad))
            canvas = Image.alpha_composite(canvas, layer)
    return canvas


def import_pngtuber(
    save: Path,
    out: Path,
    *,
    costume: int = 1,
    overwrite: bool = False,
    tween: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Make a rig in ``out`` from a PNGTuber Plus ``.save`` (then its in-betweens), as :func:`write_rig`.

    The rig's layout is face_rig's (or a ``rig.json`` beside the save file).
    """
    if not 1 <= costume <= 10:
        raise StreamerError(f"costume must be 1 to 10, got {costume}")
    config, doc = load_config(save.parent)
    if not (save.parent / "rig.json").is_file():
        doc = {**doc, "name": save.stem}
    sprites = parse_save(save)
    placed = _place(sprites, costume)
    states = {(t, b): render_state(placed, t, b) for t in (False, True) for b in (False, True)}
    report = ImportReport(sprites=sum(p.visible for p in placed), costume=costume)
    shown_as: dict[str, tuple[bool, bool]] = {}
    for expr, values in config.expressions.items():
        mouth, eyes = values.get("mouth", "neutral"), values.get("eyes", "neutral")
        shown_as[expr] = (mouth in TALKING_MOUTHS, eyes == "blink_closed")
        drawable = (mouth in TALKING_MOUTHS or mouth == "neutral") and eyes in ("neutral", "blink_closed")
        if not drawable or any(v != "neutral" for a, v in values.items() if a not in ("mouth", "eyes")):
            report.approximated.append(expr)
    for pose in config.poses:
        if pose not in POSE_TRANSFORMS:
            raise RigError([f"pose {pose!r}: no built-in transform for it (PNGTuber Plus avatars have one pose)"])
    size = states[(False, False)].size
    images = (
        (f"{expr}__{pose}", transform(states[shown_as[expr]], POSE_TRANSFORMS[pose]))
        for expr in config.expressions
        for pose in config.poses
    )
    doc = {**doc, "size": [size[0], size[1]]}
    report.endpoints = write_rig(out, doc, images, overwrite=overwrite, tween=tween, workers=workers, progress=progress)
    return report
