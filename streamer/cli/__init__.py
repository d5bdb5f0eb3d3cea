"""The ``streamer`` command line (I/O): the composition root of every subcommand.

``main`` builds the settings once (environment, then ``serve``'s flags) and hands them to the
command; each command module registers its parsers with ``add_commands``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from streamer.cli import media, record, rig, serve, speech, worker
from streamer.cli.flags import from_flags
from streamer.core.errors import RigError, StreamerError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamer", description="Animate an illustrated character from rig frames.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (rig, media, speech, record, serve, worker):
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args, from_flags(args)))
    except RigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except StreamerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # piped into head/less that exited early
        sys.stderr.close()
        return 0
