"""Reading and writing rig images and configs, with one readable problem per bad file (does I/O)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from streamer.core.errors import RigError
from streamer.core.rig import RigConfig, parse_rig_config

RGBA = npt.NDArray[np.uint8]


def read_config(root: Path) -> RigConfig:
    """The parsed ``rig.json`` (or ``expressions.json``) of ``root``; :class:`RigError` if bad."""
    from streamer.rigload import _read_json, find_config

    if not root.is_dir():
        raise RigError([f"{root}: not a folder"])
    path = find_config(root)
    return parse_rig_config(_read_json(path, path.name))


def image_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole, readable image (None when it is): decodes it fully."""
    try:
        with Image.open(path) as img:
            img.load()
    except FileNotFoundError:
        return "missing"
    except UnidentifiedImageError:
        return "not an image"
    except (OSError, SyntaxError, ValueError, zlib.error) as exc:
        return f"unreadable or half-written image ({exc})"
    return None


def image_size(path: Path) -> tuple[int, int]:
    """Width and height from the file header (no decoding)."""
    with Image.open(path) as img:
        return img.size


def read_rgba(path: Path) -> RGBA:
    """An image as an H x W x 4 uint8 RGBA array; ``ValueError`` naming the file if unreadable."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGBA"))
    except (OSError, SyntaxError, UnidentifiedImageError, zlib.error) as exc:
        raise ValueError(f"{path}: cannot read the image ({exc})") from exc


def write_png(path: Path, image: RGBA) -> None:
    """Write an RGBA array as PNG, atomically (a temporary name, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    Image.fromarray(image, "RGBA").save(tmp, format="PNG", compress_level=1)
    tmp.replace(path)


def check_images(root: Path, keys: Iterable[str], size: tuple[int, int] | None) -> list[str]:
    """Problems with the images ``keys`` below ``root``: missing, unreadable, or not all one size.

    The expected size is ``size`` (the rig's), else the size most of the images have.
    """
    problems: list[str] = []
    sizes: dict[str, tuple[int, int]] = {}
    for key in keys:
        reason = image_problem(root / key)
        if reason is not None:
            problems.append(f"{key}: {reason}")
        else:
            sizes[key] = image_size(root / key)
    problems += size_problems(sizes, size)
    return problems


def size_problems(sizes: dict[str, tuple[int, int]], size: tuple[int, int] | None) -> list[str]:
    """One line per image whose size is not ``size`` (or, without one, the most common size)."""
    if not sizes:
        return []
    if size is None:
        counts: dict[tuple[int, int], int] = {}
        for s in sizes.values():
            counts[s] = counts.get(s, 0) + 1
        size = max(counts, key=lambda s: counts[s])
        whose = "the other images'"
    else:
        whose = "the rig's"
    return [
        f"{key}: size {w}x{h} differs from {whose} {size[0]}x{size[1]}"
        for key, (w, h) in sorted(sizes.items())
        if (w, h) != size
    ]
