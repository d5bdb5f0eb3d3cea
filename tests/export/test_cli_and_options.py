"""The ``streamer export`` command and option parsing."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from streamer.export import ExportError, ExportOptions
from streamer.export.options import format_for_path
from tests.export.conftest import HELLO, HELLO_AUDIO, REPO, ffprobe


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamer", "export", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or REPO,
    )


@pytest.mark.parametrize(("name", "codecs"), [("x.webm", {"vp9", "opus"}), ("x.mp4", {"h264", "aac"})])
def test_cli_exports_the_example_with_its_audio(tmp_path, name, codecs):
    out = tmp_path / name
    res = _cli(str(HELLO), "-o", str(out), "--scale", "0.25", "-q")
    assert res.returncode == 0, res.stderr
    assert "with audio" in res.stdout
    assert {s["codec_name"] for s in ffprobe(out)["streams"]} == codecs


def test_cli_finds_audio_next_to_the_timeline_or_says_what_to_do(tmp_path):
    timeline = tmp_path / "t.json"
    shutil.copy(HELLO, timeline)
    res = _cli(str(timeline), "-o", str(tmp_path / "a.mp4"), "--scale", "0.25", "-q", cwd=tmp_path)
    assert res.returncode == 2
    assert "hello.ogg" in res.stderr and "--no-audio" in res.stderr
    assert not (tmp_path / "a.mp4").exists()
    shutil.copy(HELLO_AUDIO, tmp_path / "hello.ogg")
    res = _cli(str(timeline), "-o", str(tmp_path / "a.mov"), "--size", "64x64", "--fps", "12", "-q", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    video = next(s for s in ffprobe(tmp_path / "a.mov")["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"], video["r_frame_rate"]) == (64, 64, "12/1")


def test_cli_rejects_unknown_formats_and_bad_fps(tmp_path):
    res = _cli(str(HELLO), "-o", str(tmp_path / "x.avi"))
    assert res.returncode == 2 and "format" in res.stderr
    res = _cli(str(HELLO), "-o", str(tmp_path / "x.mp4"), "--fps", "100")
    assert res.returncode == 2 and "fps" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_options_parse_and_validate():
    opts = ExportOptions.parse({"format": "WEBM", "fps": 30, "size": "640x480", "background": "#102030"})
    assert (opts.format, opts.fps, opts.size, opts.background) == ("webm", 30, (640, 480), (16, 32, 48))
    assert ExportOptions(scale=0.5).output_size((513, 768)) == (256, 384)
    assert ExportOptions(size=(301, 301)).output_size((512, 768)) == (300, 300)
    for bad in (
        {"fps": 61},
        {"fps": 11},
        {"fps": True},
        {"format": "gif"},
        {"size": [8, 8]},
        {"scale": 0},
        {"size": "10x10", "scale": 1},
        {"quality": "max"},
        {"background": "pink-ish"},
        {"start_ms": 500, "end_ms": 400},
        {"audio": "yes"},
        {"extra": 1},
    ):
        with pytest.raises(ExportError):
            ExportOptions.parse(bad)
    assert format_for_path("a/b.MOV") == "mov"
    with pytest.raises(ExportError):
        format_for_path("a/b")
