"""Helpers shared by the command modules: argument types, status lines, timeline and audio files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamer.core.errors import StreamerError
from streamer.settings import Settings


def size_type(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"size {text!r} is out of range (16..8192 per side)")
    return w, h


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number in ``[lo, hi]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in [{lo}, {hi}], got {value}")
        return value

    return parse


def status(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def read_timeline_file(path: str | Path) -> tuple[Any, Any]:
    """The JSON document in ``path`` and the timeline it parses to; errors name the file."""
    from streamer.core.errors import TimelineError
    from streamer.core.timeline import loads, parse_timeline

    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise StreamerError(f"{path}: cannot read the timeline: {exc.strerror or exc}") from None
    try:
        document = loads(text)
        return document, parse_timeline(document)
    except TimelineError as exc:
        raise TimelineError(f"{path}: not a timeline: {exc}") from None


def load_timeline_file(path: str | Path) -> Any:
    return read_timeline_file(path)[1]


def probe_audio(path: Path) -> Any:
    """``probe_audio`` with errors that name the file."""
    from streamer.storage import AudioError, probe_audio

    try:
        return probe_audio(path)
    except AudioError as exc:
        raise AudioError(f"{path}: {str(exc).removeprefix('upload ')}") from None


def find_audio(audio_id: str, timeline_path: Path, settings: Settings) -> Path:
    """The timeline's audio file: next to the timeline file, else in the data folder's audio store."""
    from streamer.storage import validate_audio_id

    validate_audio_id(audio_id)
    for candidate in (timeline_path.parent / audio_id, settings.data_dir / "audio" / audio_id):
        if candidate.is_file():
            return candidate
    raise StreamerError(
        f"audio {audio_id!r}: not found next to {timeline_path} or in {settings.data_dir / 'audio'}; "
        "put it there or pass --no-audio"
    )


RIG_HELP = "rig folder (default: STREAMER_FRAMES_DIR or the demo rig)"
LIPSYNC_HELP = "mouth shapes per sound (phoneme, default) or one per word (word, like face_rig)"


def add_rig_argument(parser: argparse.ArgumentParser, help: str = RIG_HELP) -> None:
    parser.add_argument("--rig", help=help)
