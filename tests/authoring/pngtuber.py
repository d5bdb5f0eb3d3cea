"""A PNGTuber Plus avatar save file built in code (the JSON layout its main.gd writes), for import tests."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

SKIN = (250, 220, 200)
CLOSED_MOUTH = (60, 20, 30)
OPEN_MOUTH = (200, 40, 60)
EYES_OPEN = (40, 90, 200)
EYES_TALKING = (40, 170, 90)  # the open eyes drawn while talking (a sprite with both conditions)
EYES_SHUT = (30, 30, 30)
HAT = (90, 40, 140)


def _png(size: tuple[int, int], draw: Any) -> str:
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    draw(ImageDraw.Draw(img), size)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _fill(colour: tuple[int, int, int], shape: str = "rect") -> Any:
    def draw(d: ImageDraw.ImageDraw, size: tuple[int, int]) -> None:
        box = (0, 0, size[0] - 1, size[1] - 1)
        (d.ellipse if shape == "ellipse" else d.rectangle)(box, fill=(*colour, 255))

    return draw


def _strip(first: tuple[int, int, int], second: tuple[int, int, int]) -> Any:
    """Two animation frames side by side; the importer uses the first."""

    def draw(d: ImageDraw.ImageDraw, size: tuple[int, int]) -> None:
        half = size[0] // 2
        d.rectangle((0, 0, half - 1, size[1] - 1), fill=(*first, 255))
        d.rectangle((half, 0, size[0] - 1, size[1] - 1), fill=(*second, 255))

    return draw


def sprite(ident: int, parent: int | None, image: str, pos: tuple[int, int], **fields: Any) -> dict[str, Any]:
    """One sprite as PNGTuber Plus saves it (every field its save function writes)."""
    return {
        "type": "sprite",
        "path": f"user://avatar/{ident}.png",
        "imageData": image,
        "identification": ident,
        "parentId": parent,
        "pos": f"Vector2({pos[0]}, {pos[1]})",
        "offset": fields.pop("offset", "Vector2(0, 0)"),
        "zindex": fields.pop("zindex", 0),
        "drag": 0,
        "xFrq": 0,
        "xAmp": 0,
        "yFrq": 0,
        "yAmp": 0,
        "rotDrag": 0,
        "showTalk": fields.pop("showTalk", 0),
        "showBlink": fields.pop("showBlink", 0),
        "rLimitMin": -180,
        "rLimitMax": 180,
        "costumeLayers": fields.pop("costumeLayers", "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"),
        "stretchAmount": 0.0,
        "ignoreBounce": False,
        "frames": fields.pop("frames", 1),
        "animSpeed": 0,
        "clipped": False,
        **fields,
    }


def make_save(path: Path) -> Path:
    """An avatar of 9 sprites: body, head (child of the body), hair behind the head, closed and open
    mouths (showTalk 1 and 2), open eyes as a 2-frame strip (showBlink 1, showTalk 1), other open
    eyes while talking (showBlink 1, showTalk 2), shut eyes (showBlink 2), and a hat with a badge
    in costume 2 only. Head centre at (0, -10); mouth at (0, 15); eyes at (0, -20)."""
    body, head, hat = 11, 22, 88
    sprites = [
        sprite(body, None, _png((70, 50), _fill((40, 150, 140))), (0, 50), zindex=-1),
        sprite(head, body, _png((80, 90), _fill(SKIN, "ellipse")), (0, -60)),
        sprite(33, head, _png((96, 60), _fill((160, 80, 40))), (0, -30), zindex=-2),
        sprite(44, head, _png((24, 4), _fill(CLOSED_MOUTH)), (0, 25), showTalk=1),
        sprite(55, head, _png((24, 14), _fill(OPEN_MOUTH, "ellipse")), (0, 25), showTalk=2),
        sprite(66, head, _png((80, 12), _strip(EYES_OPEN, (250, 250, 0))), (0, -10), showBlink=1, showTalk=1, frames=2),
        sprite(67, head, _png((40, 12), _fill(EYES_TALKING)), (0, -10), showBlink=1, showTalk=2),
        sprite(77, head, _png((40, 4), _fill(EYES_SHUT)), (0, -10), showBlink=2),
        sprite(hat, head, _png((60, 24), _fill(HAT)), (0, -50), zindex=1, costumeLayers=str([0] + [1] * 9)),
        sprite(99, hat, _png((10, 10), _fill((255, 255, 255))), (20, 0), zindex=1),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({str(i): s for i, s in enumerate(sprites)}), encoding="utf-8")
    return path
