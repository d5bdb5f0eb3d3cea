"""Load a rig from a local folder (I/O): list its files, read its config and manifests."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from streamer.core.errors import RigError
from streamer.core.rig import Rig, RigListing, build_rig, parse_rig_config

log = logging.getLogger(__name__)

CONFIG_NAMES = ("rig.json", "expressions.json")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def find_config(root: Path) -> Path:
    """``rig.json`` (or face_rig's ``expressions.json``) in ``root``."""
    for name in CONFIG_NAMES:
        if (root / name).is_file():
            return root / name
    raise RigError([f"{root}: no rig.json or expressions.json (is this a rig folder?)"])


def _read_json(path: Path, label: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RigError([f"{label}: cannot read JSON: {exc}"]) from exc


def list_rig_files(root: Path) -> RigListing:
    """What exists under ``root``'s ``endpoints/`` and ``sequences/``, checked for readability."""
    files: dict[str, int] = {}
    unreadable: dict[str, str] = {}
    manifests: dict[str, object] = {}
    real_root = root.resolve()
    for top in ("endpoints", "sequences"):
        base = root / top
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                key = path.relative_to(root).as_posix()
                if name == "manifest.json" and path.parent.parent == root / "sequences":
                    try:
                        manifests[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
                    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                        unreadable[key] = f"invalid JSON ({exc})"
                    continue
                if not name.lower().endswith(".png") or name.startswith("."):
                    continue
                reason = _png_problem(path, real_root)
                if reason:
                    unreadable[key] = reason
                else:
                    files[key] = path.stat().st_size
    return RigListing(files=files, manifests=manifests, unreadable=unreadable)


def _png_problem(path: Path, real_root: Path) -> str | None:
    try:
        if not path.resolve().is_relative_to(real_root):
            return "symlink points outside the rig folder"
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        return exc.strerror or str(exc)
    if head != _PNG_SIGNATURE:
        return "not a PNG file" if head else "empty file"
    return None


def load_rig(root: Path | str) -> Rig:
    """Load and validate the rig in ``root``; raises :class:`RigError` listing every problem."""
    root = Path(root)
    if not root.is_dir():
        raise RigError([f"{root}: not a folder"])
    config_path = find_config(root)
    config = parse_rig_config(_read_json(config_path, config_path.name))
    rig = build_rig(config, list_rig_files(root))
    log.info(
        "loaded rig %r from %s: %d endpoints, %d sequences", config.name, root, len(rig.endpoints), len(rig.sequences)
    )
    return rig
