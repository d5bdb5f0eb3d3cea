"""Every subcommand given the wrong kind of file ends with one `error:` line and a non-zero exit, never a traceback.

Each case runs the real command line in its own process, as a user would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]

# (argv, a part of the error line). Paths are relative to a folder holding: take.ogg (audio),
# t.json (a timeline), image.png, notes.txt (text), folder/ (empty), and bad-audio.json (a timeline
# whose audio file, bad.ogg, is text).
CASES: list[tuple[list[str], str]] = [
    (["schedule", "take.ogg"], "take.ogg: not a timeline: invalid JSON: not UTF-8 text"),
    (["schedule", "image.png"], "image.png: not a timeline"),
    (["schedule", "folder"], "folder: cannot read the timeline"),
    (["export", "take.ogg", "-o", "x.mp4"], "take.ogg: not a timeline"),
    (["export", "t.json", "-o", "x.avi"], "format: cannot tell it from 'x.avi'"),
    (["export", "t.json", "-o", "x.mp4", "--rig", "notes.txt"], "notes.txt: not a folder"),
    (["export", "bad-audio.json", "-o", "x.mp4"], "bad.ogg"),
    (["captions", "take.ogg", "-o", "x.srt"], "take.ogg: not a timeline"),
    (["captions", "t.json", "-o", "x.doc"], "x.doc: unknown caption or lip-sync extension"),
    (["import", "take.ogg", "-o", "x.json"], "take.ogg: not UTF-8"),
    (["import", "image.png", "-o", "x.json"], "image.png: not UTF-8"),
    (["import", "notes.txt", "-o", "x.json"], "notes.txt: unknown format"),
    (["import", "t.json", "--audio", "image.png", "-o", "x.json"], "--audio image.png"),
    (["import", "t.json", "--audio", "bad.ogg", "-o", "x.json"], "bad.ogg: is not audio"),
    (["align", "t.json", "--text", "hi", "-o", "x.json"], "t.json: is not audio"),
    (["align", "take.ogg", "image.png", "-o", "x.json"], "image.png: cannot read the transcript"),
    (["align", "folder", "--text", "hi", "-o", "x.json"], "folder: no such audio file"),
    (["rig", "check", "take.ogg"], "take.ogg: not a folder"),
    (["rig", "check", "folder"], "folder: no rig.json or expressions.json"),
    (["rig", "demo", "--out", "take.ogg"], "exists and is not a folder"),
    (["say", "hi", "-o", "out.avi"], "-o out.avi: say writes a video ending in .mp4, .webm or .mov"),
    (["say", "hi", "--timeline-out", "x.ogg"], "that is the audio's file too"),
    (["say", "hi", "--audio-out", "take.wav"], "--audio-out take.wav"),
    (["play", "take.ogg"], "take.ogg: not a timeline"),
    (["play", "image.png"], "image.png: not a timeline"),
    (["serve", "--frames", "take.ogg", "--port", "0"], "take.ogg: not a folder"),
    (["upload", "take.ogg", "--bucket", "b", "--dry-run"], "take.ogg: not a folder"),
    (["worker", "--frames", "take.ogg"], "take.ogg: not a folder"),
    (["chat", "--persona", "image.png"], "--persona image.png: cannot read it"),
    (["chat", "--persona", "folder"], "--persona folder: cannot read it"),
    (["record", "--seconds", "0"], "record: --seconds must be in (0, 3600]"),
]
SUBCOMMANDS = {"schedule", "export", "captions", "import", "align", "rig", "say", "play", "serve", "upload"}
SUBCOMMANDS |= {"voices", "chat", "record", "worker"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wrong-files")
    shutil.copy(REPO / "examples" / "hello.ogg", root / "take.ogg")
    shutil.copy(REPO / "examples" / "hello.json", root / "t.json")
    Image.new("RGB", (8, 8)).save(root / "image.png")
    (root / "notes.txt").write_text("just some notes\n")
    (root / "bad.ogg").write_text("this is not audio\n")
    (root / "bad-audio.json").write_text('{"version": 1, "audio": {"id": "bad.ogg"}, "duration_ms": 500}')
    (root / "folder").mkdir()
    return root


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_") and k != "PORT"}
    env["PYTHONPATH"] = str(REPO)
    env["STREAMER_FRAMES_DIR"] = str(REPO / "frames")
    return subprocess.run(
        [sys.executable, "-m", "streamer", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_every_subcommand_is_covered() -> None:
    from streamer.cli import build_parser

    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices  # type: ignore[union-attr]
    assert set(choices) == SUBCOMMANDS  # a new command gets its wrong-file cases here
    assert {argv[0] for argv, _ in CASES} == SUBCOMMANDS - {"voices"}  # voices reads no file


def test_wrong_files_give_one_error_line_and_no_traceback(files: Path) -> None:
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda case: run(case[0], files), CASES))
    failures = []
    for (argv, message), done in zip(CASES, results, strict=True):
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        ok = done.returncode != 0 and len(errors) == 1 and message in errors[0] and "Traceback" not in done.stderr
        if not ok:
            failures.append(f"streamer {' '.join(argv)} -> exit {done.returncode}\n{done.stderr[-800:]}")
    assert not failures, "\n\n".join(failures)
    assert not (files / "x.ogg").exists() and not (files / "x.json").exists()  # nothing half-written
