"""``streamer rig check|demo`` (and the authoring commands of :mod:`streamer.rigs.commands`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from streamer.cli.common import int_in, size_type
from streamer.core.errors import StreamerError
from streamer.settings import Settings


def cmd_rig_check(args: argparse.Namespace, settings: Settings) -> int:
    from streamer.rigs.check import check_rig

    result = check_rig(Path(args.dir))
    for line in result.lines:
        print(line)
    for problem in result.problems:
        print(f"error: {problem}", file=sys.stderr)
    if result.problems:
        print(f"{args.dir}: {len(result.problems)} problem(s)", file=sys.stderr)
        return 1
    print("ok")
    return 0


def cmd_rig_demo(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from streamer.demo import write_demo_rig

    out = Path(args.out)
    bars: list[Any] = []  # opened at the first progress report: a refusal prints no empty bar

    def progress(done: int, total: int) -> None:
        if not bars:
            desc = f"drawing {args.size[0]}x{args.size[1]} rig"
            bars.append(tqdm(total=total, unit="frame", desc=desc, disable=args.quiet))
        bars[0].total = total
        bars[0].n = done
        bars[0].refresh()

    try:
        write_demo_rig(out, size=args.size, progress=progress, overwrite=args.force)
    except FileExistsError as exc:
        raise StreamerError(str(exc).replace("pass overwrite=True", "pass --force")) from None
    finally:
        for bar in bars:
            bar.close()
    print(f"wrote demo rig to {out}; check it with: streamer rig check {out}")
    return 0


def add_commands(sub: Any) -> None:
    rig = sub.add_parser("rig", help="check or draw rigs").add_subparsers(dest="rig_command", required=True)
    check = rig.add_parser("check", help="validate a rig folder and print its coverage")
    check.add_argument("dir", help="rig folder (with rig.json or expressions.json)")
    check.set_defaults(func=cmd_rig_check)
    demo = rig.add_parser("demo", help="draw the demo character rig procedurally")
    demo.add_argument("--out", required=True, help="folder to create")
    demo.add_argument("--size", type=size_type, default=(512, 768), help="WIDTHxHEIGHT (default 512x768)")
    demo.add_argument("--force", action="store_true", help="replace the folder if it exists")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_rig_demo)
    from streamer.rigs.commands import add_rig_commands

    add_rig_commands(rig, size_type, int_in)
