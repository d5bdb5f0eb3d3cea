"""``streamer rig sheet``: a contact sheet of a rig's endpoints, and its sequences as film strips (does I/O)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from streamer.demo.sheet import contact_sheet


def rig_sheet(root: Path, out_png: Path, *, sequences: bool = False, cell_width: int = 160) -> Path:
    """One row per expression, one column per pose; with ``sequences``, then one film strip per
    sequence (start endpoint, its frames, end endpoint). Raises :class:`RigError` for a bad rig."""
    from streamer.rigload import load_rig

    rig = load_rig(root)
    poses = rig.config.poses
    keys = [
        rig.endpoint_key(state)
        for state in sorted(rig.endpoints, key=lambda s: (list(rig.expressions).index(s.expr), poses.index(s.pose)))
    ]
    sheet = contact_sheet(root, out_png, keys, columns=len(poses), cell_width=cell_width)
    if not sequences or not rig.sequences:
        return sheet
    strips: list[Image.Image] = [Image.open(sheet).convert("RGB")]
    width = max(len(s.frames) + 2 for s in rig.sequences.values())
    tmp = out_png.with_name(f".{out_png.name}.strip.png")
    try:
        for seq in rig.sequences.values():
            row = [rig.endpoint_key(seq.start), *(k for _, k in seq.frames), rig.endpoint_key(seq.end)]
            contact_sheet(root, tmp, row, columns=width, cell_width=cell_width // 2 + 20)
            strips.append(Image.open(tmp).convert("RGB"))
    finally:
        tmp.unlink(missing_ok=True)
    total = Image.new("RGB", (max(s.width for s in strips), sum(s.height for s in strips)), (255, 255, 255))
    y = 0
    for strip in strips:
        total.paste(strip, (0, y))
        y += strip.height
    total.save(out_png, format="PNG", optimize=True)
    return out_png
