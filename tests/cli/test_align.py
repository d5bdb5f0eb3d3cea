"""`streamer align` in a subprocess: timeline + audio side by side, the loudness mouth, readable errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamer.core.timeline import parse_timeline
from tests.speech.align_fixtures import PHRASES, Recording, make_recording

REPO = Path(__file__).resolve().parents[2]


def streamer(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamer", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Recording]:
    rec = make_recording(PHRASES[13:15], voice="en-gb-x-rp+m3", rate_wpm=150, sample_rate=22_050, seed=3)
    path = tmp_path_factory.mktemp("rec") / "take 1.wav"  # not a valid audio id: the copy gets one
    path.write_bytes(rec.wav_bytes())
    return path, rec


def test_aligns_a_transcript_file_and_puts_the_audio_next_to_the_timeline(
    tmp_path: Path, recording: tuple[Path, Recording]
) -> None:
    audio, rec = recording
    transcript = tmp_path / "words.txt"
    transcript.write_text(rec.transcript + "\n", encoding="utf-8")
    out = tmp_path / "talk.json"
    result = streamer("align", str(audio), str(transcript), "-o", str(out))
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    timeline = parse_timeline(doc)
    assert timeline.audio is not None and timeline.audio.id == "talk.wav"
    assert (tmp_path / "talk.wav").read_bytes() == audio.read_bytes()
    assert [w.text for w in timeline.words][:3] == ["Good", "morning", "everyone"]
    assert timeline.speech and abs(timeline.words[0].t_ms - rec.words[0].t_ms) < 60
    assert doc["meta"]["text"] == rec.transcript
    total = len(rec.words)
    assert f"/{total} words, mean confidence" in result.stdout, result.stdout
    assert f"wrote {out}" in result.stderr


def test_inline_text_and_the_export_find_the_audio(tmp_path: Path, recording: tuple[Path, Recording]) -> None:
    av = pytest.importorskip("av")
    audio, rec = recording
    out = tmp_path / "line.json"
    result = streamer("align", str(audio), "--text", rec.transcript, "-o", str(out), "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout.startswith("placed ")
    video = tmp_path / "line.mp4"
    exported = streamer("export", str(out), "-o", str(video), "--fps", "12", "--size", "64x96", "--quality", "draft")
    assert exported.returncode == 0, exported.stderr
    with av.open(str(video)) as container:
        assert container.streams.audio, "the video carries the recording"


def test_without_a_transcript_the_mouth_follows_the_loudness(tmp_path: Path, recording: tuple[Path, Recording]) -> None:
    audio, _ = recording
    out = tmp_path / "loud.json"
    result = streamer("align", str(audio), "-o", str(out))
    assert result.returncode == 0, result.stderr
    timeline = parse_timeline(json.loads(out.read_text()))
    assert timeline.speech and not timeline.words
    assert result.stdout.startswith("loudness mouth: ")
    assert "warning: no transcript" in result.stdout


def test_errors_are_one_readable_line_and_a_nonzero_exit(tmp_path: Path, recording: tuple[Path, Recording]) -> None:
    audio, rec = recording
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("these are not samples")
    out = str(tmp_path / "t.json")
    cases = [
        (["align", str(tmp_path / "missing.wav"), "--text", "hi", "-o", out], {}, "no such audio file"),
        (["align", str(not_audio), "--text", "hi", "-o", out], {}, "not audio"),
        (["align", str(audio), "--text", "   ", "-o", out], {}, "transcript: is empty"),
        (["align", str(audio), str(tmp_path / "none.txt"), "-o", out], {}, "no such transcript file"),
        (["align", str(audio), str(audio), "--text", "hi", "-o", out], {}, "not both"),
        (["align", str(audio), "--text", "hi", "-o", str(tmp_path / "no" / "t.json")], {}, "no such folder"),
        (["align", str(audio), "--text", "hi", "-o", str(tmp_path / "bad name.json")], {}, "file name must be"),
        (["align", str(audio), "--text", "hi", "-o", out], {"STREAMER_MAX_AUDIO_S": "2"}, "too long"),
        (["align", str(audio), "--text", "hi", "--voice", "zz-nope", "-o", out], {}, "voice:"),
    ]
    for argv, env, message in cases:
        result = streamer(*argv, env=env)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0, (argv, result.stdout)
        errors = [line for line in lines if line.startswith("error: ")]
        assert errors == [lines[-1]] and message in lines[-1], (argv, lines)  # after any status line
    assert not (tmp_path / "t.json").exists()
    assert rec.duration_ms > 2000
