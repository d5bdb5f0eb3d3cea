"""Build the pictures of docs/rigs.md from code: ``python docs/build.py`` (writes docs/img/*.png).

- ``rig-layers.png``: the layered test character (tests/authoring/layers.py) through
  ``streamer rig from-layers``: every expression at the centre, then the head poses.
- ``rig-tweened.png``: the demo rig's endpoints alone through ``streamer rig tween``, three of
  the sequences it made as film strips (start, in-betweens, end).
- ``rig-generated.png``: ``streamer rig generate`` run end to end (the official openai SDK, over
  HTTP) against the loopback fake images API of the tests (tests/speech/fakeapi.py), from the
  demo's neutral face. The fake is not gpt-image-1: it returns the source picture with a
  coloured block where the face would change, so the sheet shows the pipeline (stages, framing,
  registration, the rig it writes), not what a real model draws.
- ``rig-pngtuber.png``: a PNGTuber Plus ``.save`` built in code (tests/authoring/pngtuber.py)
  through ``streamer rig from-layers``, laid out as ``rig-layers.png``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.cli import main as cli  # noqa: E402
from streamer.demo.sheet import contact_sheet  # noqa: E402
from streamer.rigs.layers import build_from_layers  # noqa: E402
from streamer.rigs.sheet import rig_sheet  # noqa: E402
from streamer.rigs.tween import tween_rig  # noqa: E402
from tests.authoring.conftest import endpoints_only_rig  # noqa: E402
from tests.authoring.layers import make_layers  # noqa: E402
from tests.authoring.pngtuber import make_save  # noqa: E402
from tests.speech.fakeapi import OPENAI_KEY, FakeAPI  # noqa: E402

IMG = ROOT / "docs" / "img"
STRIPS = (
    "neutral_to_speaking_ah__center",
    "neutral_to_happy_soft__center",
    "neutral_center_to_neutral_tilt_left_small",
)


def generated_rig(out: Path) -> Path:
    """``rig generate`` from the demo's neutral face, against the loopback fake images API."""
    api = FakeAPI().start()
    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    os.environ.update(OPENAI_API_KEY=OPENAI_KEY, OPENAI_BASE_URL=api.openai_url)
    try:
        picture = ROOT / "frames" / "endpoints" / "neutral__center.png"
        argv = ["rig", "generate", "--from", str(picture), "--out", str(out), "--size", "256x384", "--yes", "-q"]
        if cli(argv) != 0:
            raise SystemExit("rig generate against the fake API failed")
    finally:
        api.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return out


def overview(rig: Path, out: Path) -> None:
    """Every expression at the first pose, then the first expression at every pose (a rig of
    21 expressions at 5 poses is too tall for a page as a full ``rig sheet``)."""
    config = json.loads((rig / "rig.json").read_text(encoding="utf-8"))
    poses, exprs = config["poses"], list(config["expressions"])
    keys = [f"endpoints/{e}__{poses[0]}.png" for e in exprs] + [f"endpoints/{exprs[0]}__{p}.png" for p in poses]
    contact_sheet(rig, out, keys, columns=7, cell_width=96)


def main() -> None:
    IMG.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        layers = make_layers(Path(tmp) / "layers")
        rig = Path(tmp) / "layered"
        build_from_layers(layers, rig, tween=False)
        overview(rig, IMG / "rig-layers.png")
        imported = Path(tmp) / "imported"
        save = str(make_save(Path(tmp) / "avatar.save"))
        if cli(["rig", "from-layers", save, "--out", str(imported), "--no-tween", "-q"]):
            raise SystemExit("importing the PNGTuber Plus avatar failed")
        overview(imported, IMG / "rig-pngtuber.png")
        rig_sheet(generated_rig(Path(tmp) / "generated"), IMG / "rig-generated.png", cell_width=110)
        demo = endpoints_only_rig(Path(tmp) / "demo", size=(256, 384))
        tween_rig(demo)
        keys = []
        for name in STRIPS:
            m = json.loads((demo / "sequences" / name / "manifest.json").read_text(encoding="utf-8"))
            start_pose, end_pose = m.get("pose_start", m.get("pose")), m.get("pose_end", m.get("pose"))
            keys.append(f"endpoints/{m['expr_start']}__{start_pose}.png")
            keys += [f"sequences/{name}/{f['file']}" for f in m["frames"]]
            keys.append(f"endpoints/{m['expr_end']}__{end_pose}.png")
        contact_sheet(demo, IMG / "rig-tweened.png", keys, columns=5, cell_width=150)
    for name in ("rig-layers", "rig-pngtuber", "rig-generated", "rig-tweened"):
        print(f"wrote {IMG / name}.png")


if __name__ == "__main__":
    main()
