"""What a new user reads from the CLI: no status line before an error, counted nouns, no empty bars, full --help."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from streamer.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]


def options() -> list[tuple[str, argparse.Action]]:
    """Every option of every subcommand, with the subcommand's name."""
    found = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    walk(sub, f"{name} {sub_name}".strip())
            elif not isinstance(action, argparse._HelpAction):
                found.append((name, action))

    walk(build_parser(), "")
    return found


def test_every_option_has_help_that_states_its_default() -> None:
    for command, action in options():
        where = f"streamer {command} {'/'.join(action.option_strings) or action.dest}"
        assert action.help, f"{where} has no help text"
        if action.option_strings and action.default not in (None, False):
            assert "default" in action.help, f"{where}: the help does not say its default {action.default!r}"


def test_an_empty_line_fails_before_any_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["say", "", "--timeline-out", str(tmp_path / "t.json")]) == 2
    assert capsys.readouterr().err.splitlines() == ["error: text: must be a non-empty string"]


def test_status_lines_count_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["say", "Hi", "--timeline-out", str(tmp_path / "t.json")]) == 0
    err = capsys.readouterr().err
    assert "speaking 2 characters" in err and ": 1 word, face" in err


def test_a_failing_export_draws_no_empty_progress_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.ogg").write_text("not audio")
    timeline = tmp_path / "t.json"
    timeline.write_text(json.dumps({"version": 1, "audio": {"id": "bad.ogg"}, "duration_ms": 500}))
    assert main(["export", str(timeline), "-o", str(tmp_path / "x.mp4")]) != 0
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err


def test_captions_to_stdout_are_srt_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["captions", str(REPO / "examples" / "hello.json"), "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith("1\n00:00:00,000 --> ")
