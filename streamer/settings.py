"""The one settings object: reads the environment (the only module that does) (I/O)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def default_frames_dir() -> Path:
    """``./frames`` when run from a rig-bearing folder, else the demo rig shipped with the project."""
    here = Path.cwd() / "frames"
    if (here / "rig.json").is_file():
        return here
    return PACKAGE_ROOT / "frames"


@dataclass(frozen=True)
class Settings:
    """Configuration with face_rig's variable names kept; ours are prefixed ``STREAMER_``."""

    frames_dir: Path
    data_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        frames = env.get("STREAMER_FRAMES_DIR")
        data = env.get("STREAMER_DATA_DIR")
        return cls(
            frames_dir=Path(frames) if frames else default_frames_dir(),
            data_dir=Path(data) if data else Path.cwd() / "data",
        )
