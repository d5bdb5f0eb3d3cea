"""A layers folder drawn in code, PNGTuber style, for `rig from-layers` tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = (128, 192)


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    return img, ImageDraw.Draw(img)


def _save(root: Path, name: str, img: Image.Image) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def _head(dy: int = 0) -> Image.Image:
    img, d = _canvas()
    d.ellipse((24, 30 + dy, 104, 120 + dy), fill=(250, 220, 200, 255), outline=(60, 40, 40, 255), width=2)
    d.pieslice((20, 18 + dy, 108, 90 + dy), 180, 360, fill=(160, 80, 40, 255))
    return img


def make_layers(root: Path, *, drawn_pose: bool = True) -> Path:
    """base, body, front, eyes/ brows/ mouth/ with some shapes missing, and one drawn pose."""
    body, d = _canvas()
    d.rounded_rectangle((14, 120, 114, 200), 20, fill=(40, 150, 140, 255))
    _save(root, "body.png", body)
    _save(root, "base.png", _head())
    eyes = {
        "neutral": lambda d: [d.ellipse((44 + x, 66, 56 + x, 80), fill=(30, 60, 120, 255)) for x in (0, 28)],
        "wide": lambda d: [d.ellipse((42 + x, 62, 58 + x, 82), fill=(30, 60, 120, 255)) for x in (0, 28)],
        "blink_closed": lambda d: [d.line((44 + x, 74, 56 + x, 74), fill=(40, 30, 30, 255), width=2) for x in (0, 28)],
    }
    brows = {
        "neutral": lambda d: [d.line((42 + x, 58, 58 + x, 58), fill=(90, 50, 30, 255), width=3) for x in (0, 28)],
        "raise": lambda d: [d.line((42 + x, 52, 58 + x, 52), fill=(90, 50, 30, 255), width=3) for x in (0, 28)],
    }
    mouth = {
        "neutral": lambda d: d.line((56, 100, 72, 100), fill=(90, 30, 40, 255), width=2),
        "smile_soft": lambda d: d.arc((52, 90, 76, 104), 20, 160, fill=(90, 30, 40, 255), width=2),
        "ah": lambda d: d.ellipse((54, 92, 74, 110), fill=(120, 30, 50, 255)),
        "ee": lambda d: d.ellipse((50, 96, 78, 104), fill=(120, 30, 50, 255)),
        "uw": lambda d: d.ellipse((59, 95, 69, 105), fill=(120, 30, 50, 255)),
    }
    for axis, shapes in (("eyes", eyes), ("brows", brows), ("mouth", mouth)):
        for value, draw in shapes.items():
            img, d = _canvas()
            draw(d)
            _save(root, f"{axis}/{value}.png", img)
    fringe, d = _canvas()
    d.polygon([(30, 50), (50, 40), (70, 56), (90, 40), (100, 52), (100, 36), (28, 36)], fill=(170, 85, 45, 255))
    _save(root, "front.png", fringe)
    if drawn_pose:
        _save(root, "poses/nod_up_small/base.png", _head(dy=-3))
    return root
