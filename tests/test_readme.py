"""The README's walkthrough works as written and leaves the repository clean (its files go to try/)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from streamer.cli import main

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
WRITES = ("-o", "--output", "--timeline-out", "--audio-out", "--out")


def commands() -> list[list[str]]:
    """Every ``streamer`` command in the README's code blocks, as argv (after ``streamer``)."""
    out, in_block = [], False
    for line in README.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        line = line.removeprefix("mkdir -p try && ")
        if in_block and line.startswith("streamer "):
            out.append(shlex.split(line, comments=True)[1:])
    return out


def test_every_walkthrough_file_goes_to_the_scratch_folder() -> None:
    written = [argv[i + 1] for argv in commands() for i, arg in enumerate(argv[:-1]) if arg in WRITES]
    assert len(written) >= 10, written
    assert all(path.startswith("try/") for path in written), written
    assert "/try/" in (REPO / ".gitignore").read_text().splitlines()
    assert "mkdir -p try && streamer say" in README  # the first command that writes makes the folder


def test_the_walkthrough_runs_and_writes_only_to_try(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "try").mkdir()
    ran = 0
    for argv in commands():
        video = any(arg.endswith((".mp4", ".webm", ".mov")) for arg in argv)
        if argv[0] in ("serve", "play", "record", "upload", "export", "rig") or "--play" in argv or video:
            continue  # servers, and videos (covered by the export tests) are left out to keep this quick
        assert main(argv) == 0, argv
        ran += 1
    assert ran >= 7
    assert [p.name for p in tmp_path.iterdir()] == ["try"]
    assert {"t.json", "t.ogg", "take.ogg", "talk.json", "talk.srt", "talk.TextGrid", "again.json"} <= {
        p.name for p in (tmp_path / "try").iterdir()
    }
