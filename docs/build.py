"""Build the pictures of docs/rigs.md from code: ``python docs/build.py`` (writes docs/img/*.png).

- ``rig-layers.png``: the layered test character (tests/authoring/layers.py) through
  ``streamer rig from-layers``, every endpoint.
- ``rig-tweened.png``: the demo rig's endpoints alone through ``streamer rig tween``, three of
  the sequences it made as film strips (start, in-betweens, end).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.demo.sheet import contact_sheet  # noqa: E402
from streamer.rigs.layers import build_from_layers  # noqa: E402
from streamer.rigs.sheet import rig_sheet  # noqa: E402
from streamer.rigs.tween import tween_rig  # noqa: E402
from tests.authoring.conftest import endpoints_only_rig  # noqa: E402
from tests.authoring.layers import make_layers  # noqa: E402

IMG = ROOT / "docs" / "img"
STRIPS = (
    "neutral_to_speaking_ah__center",
    "neutral_to_happy_soft__center",
    "neutral_center_to_neutral_tilt_left_small",
)


def main() -> None:
    IMG.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        layers = make_layers(Path(tmp) / "layers")
        rig = Path(tmp) / "layered"
        build_from_layers(layers, rig, tween=False)
        rig_sheet(rig, IMG / "rig-layers.png", cell_width=110)
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
    print(f"wrote {IMG / 'rig-layers.png'} and {IMG / 'rig-tweened.png'}")


if __name__ == "__main__":
    main()
