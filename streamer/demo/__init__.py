"""The built-in demo character "Pip": a procedurally drawn rig, no assets or network needed (I/O in build).

from streamer.demo import write_demo_rig
write_demo_rig(Path("frames"))                      # 512x768, every CPU
write_demo_rig(Path("big"), size=(1024, 1536), progress=print)
"""

from streamer.demo.build import FrameJob, Plan, draw_frame, plan_rig, write_demo_rig
from streamer.demo.character import render
from streamer.demo.params import FaceParams, expression_params, interpolate, smoothstep
from streamer.demo.png import encode_png
from streamer.demo.sheet import contact_sheet
from streamer.demo.spec import RIG_NAME, RIG_SPEC

__all__ = [
    "RIG_NAME",
    "RIG_SPEC",
    "FaceParams",
    "FrameJob",
    "Plan",
    "contact_sheet",
    "draw_frame",
    "encode_png",
    "expression_params",
    "interpolate",
    "plan_rig",
    "render",
    "smoothstep",
    "write_demo_rig",
]
