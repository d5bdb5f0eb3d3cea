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
    # Held frames are left out of MP4 and WebM unless asked; MOV (for editors) keeps every frame.
    assert [ExportOptions(format=f).variable_rate for f in ("mp4", "webm", "mov")] == [True, True, False]
    assert not ExportOptions.parse({"constant_rate": True}).variable_rate
    assert ExportOptions.parse({"constant_rate": True}).to_json()["constant_rate"] is True
    for bad, message in (
        ({"fps": 61}, r"fps: must be an integer in \[12, 60\], got 61"),
        ({"fps": 11}, r"fps: .* got 11"),
        ({"fps": True}, r"fps: .* got True"),
        ({"format": "gif"}, r"format: must be one of mp4, webm, mov, got 'gif'"),
        ({"size": [8, 8]}, r"size: each side must be in \[16, 4096\], got 8x8"),
        ({"scale": 0}, r"scale: must be in \[0.05, 4.0\], got 0.0"),
        ({"size": "100x100", "scale": 1}, r"size, scale: give one or the other, not both"),
        ({"quality": "max"}, r"quality: must be one of draft, standard, high, got 'max'"),
        ({"background": "pink-ish"}, r"background: expected '#rrggbb' or \[r, g, b\], got 'pink-ish'"),
        ({"start_ms": 500, "end_ms": 400}, r"end_ms: must be after start_ms \(500\), got 400"),
        ({"audio": "yes"}, r"audio: must be true or false, got 'yes'"),
        ({"constant_rate": 1}, r"constant_rate: must be true or false, got 1"),
        ({"extra": 1}, r"options: unknown field\(s\) extra; known: audio, "),
    ):
        with pytest.raises(ExportError, match=f"^{message}"):
            ExportOptions.parse(bad)
    assert format_for_path("a/b.MOV") == "mov"
    with pytest.raises(ExportError, match=r"^format: cannot tell it from 'a/b'; use .mp4, .webm or .mov"):
        format_for_path("a/b")
