"""Rig folders for the authoring tests: the demo rig's endpoints alone, at a small size."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from streamer.core.rig import parse_rig_config
from streamer.rigs.tween import plan_tweens
from tests.speech.fakeapi import fake, fake_api  # noqa: F401

FRAMES = Path(__file__).resolve().parents[2] / "frames"
SMALL = (128, 192)
DEMO_CONFIG = parse_rig_config(json.loads((FRAMES / "rig.json").read_text(encoding="utf-8")))
DEMO_STATES = len(DEMO_CONFIG.expressions) * len(DEMO_CONFIG.poses)  # every expression at every pose
# (`rig check` counts the states reachable from neutral@center among the other DEMO_STATES - 1)
DEMO_SEQUENCES = len(plan_tweens(DEMO_CONFIG))  # what `rig tween` makes for the demo's endpoints


def endpoints_only_rig(out: Path, size: tuple[int, int] = SMALL) -> Path:
    """The demo rig's rig.json and endpoints (no sequences), scaled to ``size``."""
    (out / "endpoints").mkdir(parents=True)
    config = json.loads((FRAMES / "rig.json").read_text(encoding="utf-8"))
    config["size"] = list(size)
    (out / "rig.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    for path in sorted((FRAMES / "endpoints").glob("*.png")):
        with Image.open(path) as img:
            img.convert("RGBA").resize(size, Image.Resampling.LANCZOS).save(out / "endpoints" / path.name)
    return out


@pytest.fixture(scope="session")
def small_endpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pristine endpoints-only rig; copy it before changing anything (see :func:`fresh_rig`)."""
    return endpoints_only_rig(tmp_path_factory.mktemp("endpoints") / "rig")


@pytest.fixture
def fresh_rig(small_endpoints: Path, tmp_path: Path) -> Path:
    """A copy of the endpoints-only rig for one test to change."""
    return Path(shutil.copytree(small_endpoints, tmp_path / "rig"))
