"""The ``streamer rig`` authoring commands: tween, from-layers, sheet, generate (I/O: terminal and files)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamer.core.errors import StreamerError
from streamer.settings import Settings


def cmd_rig_tween(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from streamer.rigs.tween import tween_rig

    with tqdm(total=0, unit="seq", desc="in-betweens", disable=args.quiet) as bar:
        report = tween_rig(
            Path(args.dir),
            args.frames,
            redo=args.redo,
            ease=not args.linear,
            workers=args.workers,
            progress=lambda done, total: _bar_to(bar, done, total),
        )
    for name, reason in sorted(report.failed.items()):
        print(f"error: sequence {name}: {reason}", file=sys.stderr)
    print(
        f"made {len(report.made)} sequences ({report.frames} frames) in {report.seconds:.1f} s, "
        f"kept {len(report.kept)}; check it with: streamer rig check {args.dir}"
    )
    return 1 if report.failed else 0


def cmd_rig_from_layers(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from streamer.rigs.layers import build_from_layers
    from streamer.rigs.pngtuber import is_pngtuber_save

    if is_pngtuber_save(Path(args.layers)):
        return _from_pngtuber(args)

    with tqdm(total=0, unit="seq", desc="in-betweens", disable=args.quiet or args.no_tween) as bar:
        report = build_from_layers(
            Path(args.layers),
            Path(args.out),
            overwrite=args.overwrite,
            tween=not args.no_tween,
            workers=args.workers,
            progress=lambda done, total: _bar_to(bar, done, total),
        )
    for wanted, used in sorted(report.fallbacks.items()):
        print(f"{wanted}.png missing: using {used}.png")
    drawn = ", ".join(report.drawn_poses) or "none"
    print(f"poses drawn: {drawn}; transformed: {', '.join(report.transformed_poses) or 'none'}")
    print(f"wrote {report.endpoints} endpoints to {args.out}; check it with: streamer rig check {args.out}")
    return 0


def _from_pngtuber(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from streamer.rigs.pngtuber import import_pngtuber

    with tqdm(total=0, unit="seq", desc="in-betweens", disable=args.quiet or args.no_tween) as bar:
        report = import_pngtuber(
            Path(args.layers),
            Path(args.out),
            costume=args.costume,
            overwrite=args.overwrite,
            tween=not args.no_tween,
            workers=args.workers,
            progress=lambda done, total: _bar_to(bar, done, total),
        )
    print(f"PNGTuber Plus avatar: {report.sprites} sprites in costume {report.costume}")
    if report.approximated:
        print(
            f"drawn as its talking/blinking state only (PNGTuber Plus has no other faces): "
            f"{', '.join(report.approximated)}"
        )
    print(f"wrote {report.endpoints} endpoints to {args.out}; check it with: streamer rig check {args.out}")
    return 0


def cmd_rig_sheet(args: argparse.Namespace, settings: Settings) -> int:
    from streamer.rigs.sheet import rig_sheet

    out = Path(args.output)
    if not out.parent.is_dir():
        raise StreamerError(f"{out.parent}: no such folder for the output")
    rig_sheet(Path(args.dir), out, sequences=args.sequences, cell_width=args.cell_width)
    print(f"wrote {out}")
    return 0


def _bar_to(bar: Any, done: int, total: int) -> None:
    bar.total = total
    bar.update(done - bar.n)


def add_rig_commands(
    rig: Any, size_type: Callable[[str], tuple[int, int]], int_in: Callable[[int, int], Callable[[str], int]]
) -> None:
    """Add ``tween``, ``from-layers``, ``sheet`` and ``generate`` to the ``rig`` subcommands."""
    from streamer.rigs.tween import MAX_FRAMES

    tween = rig.add_parser("tween", help="make the rig's in-between sequences from its endpoint images")
    tween.add_argument("dir", help="rig folder with rig.json and endpoints/")
    tween.add_argument("--frames", type=int_in(1, MAX_FRAMES), default=3, help="in-betweens per sequence (default 3)")
    tween.add_argument("--redo", action="store_true", help="remake sequences that exist (default: keep them)")
    tween.add_argument("--linear", action="store_true", help="no ease in/out: frame t shows the place t")
    tween.add_argument("--workers", type=int_in(1, 64), help="processes (default: one per CPU)")
    tween.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tween.set_defaults(func=cmd_rig_tween)

    layers = rig.add_parser(
        "from-layers", help="compose a rig from drawn layers (base, eyes/, brows/, mouth/) or a PNGTuber Plus .save"
    )
    layers.add_argument("layers", help="layers folder (see docs/rigs.md for the names), or a PNGTuber Plus .save file")
    layers.add_argument("--out", required=True, help="rig folder to create")
    layers.add_argument("--overwrite", action="store_true", help="replace the rig already in --out")
    layers.add_argument("--no-tween", action="store_true", help="endpoints only (run `streamer rig tween` later)")
    layers.add_argument("--workers", type=int_in(1, 64), help="tween processes (default: one per CPU)")
    layers.add_argument("--costume", type=int_in(1, 10), default=1, help="PNGTuber Plus costume to import (default 1)")
    layers.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    layers.set_defaults(func=cmd_rig_from_layers)

    sheet = rig.add_parser("sheet", help="a labelled contact sheet of a rig's endpoints (and sequences)")
    sheet.add_argument("dir", help="rig folder")
    sheet.add_argument("-o", "--output", required=True, help="PNG to write")
    sheet.add_argument("--sequences", action="store_true", help="add every sequence as a film strip")
    sheet.add_argument("--cell-width", type=int_in(48, 1024), default=160, help="pixels per image (default 160)")
    sheet.set_defaults(func=cmd_rig_sheet)

    from streamer.rigs import generate_cli

    generate_cli.add_parser(rig, size_type, int_in)
