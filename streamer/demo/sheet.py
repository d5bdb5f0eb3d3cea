"""Contact sheets: a grid of a rig's frames on a checkerboard, for a quick look (does I/O)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

_LIGHT = (236, 236, 240, 255)
_DARK = (206, 208, 214, 255)
_INK = (40, 40, 48, 255)


def _checker(width: int, height: int, cell: int) -> Image.Image:
    img = Image.new("RGBA", (width, height), _LIGHT)
    draw = ImageDraw.Draw(img)
    for y in range(0, height, cell):
        for x in range((y // cell) % 2 * cell, width, 2 * cell):
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=_DARK)
    return img


def _label(key: str) -> tuple[str, str]:
    """Two short lines naming a frame: the expression or path, then the pose or frame."""
    name = key.removeprefix("endpoints/").removeprefix("sequences/").removesuffix(".png")
    if "/" in name:
        folder, frame = name.rsplit("/", 1)
        head, _, pose = folder.partition("__")
        return head, f"{pose} {frame}".strip()
    head, _, pose = name.partition("__")
    return head, pose


def default_keys(rig_dir: Path) -> tuple[list[str], int]:
    """Every endpoint of the rig, one row per expression and one column per pose."""
    rig = json.loads((Path(rig_dir) / "rig.json").read_text(encoding="utf-8"))
    poses = list(rig["poses"])
    keys = [f"endpoints/{e}__{p}.png" for e in rig["expressions"] for p in poses]
    return keys, len(poses)


def contact_sheet(
    rig_dir: Path,
    out_png: Path,
    keys: Sequence[str] | None = None,
    columns: int | None = None,
    cell_width: int = 180,
    labels: bool = True,
) -> Path:
    """Lay frames of ``rig_dir`` (frame keys; default every endpoint) out in a grid PNG.

    Returns ``out_png``. Raises ``FileNotFoundError`` for a missing frame.
    """
    rig_dir = Path(rig_dir)
    if keys is None:
        keys, default_cols = default_keys(rig_dir)
        columns = columns or default_cols
    keys = list(keys)
    if not keys:
        raise ValueError("contact sheet needs at least one frame key")
    columns = max(1, columns or min(5, len(keys)))
    first = Image.open(rig_dir / keys[0])
    cell_h = round(cell_width * first.height / first.width)
    label_h = 26 if labels else 0
    rows = (len(keys) + columns - 1) // columns
    sheet = _checker(columns * cell_width, rows * (cell_h + label_h), 12)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, key in enumerate(keys):
        frame = Image.open(rig_dir / key).convert("RGBA")
        frame = frame.resize((cell_width, cell_h), Image.Resampling.LANCZOS)
        x, y = (i % columns) * cell_width, (i // columns) * (cell_h + label_h)
        sheet.alpha_composite(frame, (x, y))
        if labels:
            draw.rectangle((x, y + cell_h, x + cell_width - 1, y + cell_h + label_h - 1), fill=(255, 255, 255, 255))
            for line_no, line in enumerate(_label(key)):
                draw.text((x + 3, y + cell_h + 1 + 12 * line_no), line, fill=_INK, font=font)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    sheet.convert("RGB").save(out_png, format="PNG", optimize=True)
    return out_png
