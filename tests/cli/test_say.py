"""`streamer say`: timeline and audio files, a video through the export, live play, readable errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamer.cli import main
from streamer.core.timeline import loads, parse_timeline
from tests.server.conftest import MakeServer

LINE = "Hello! I am so happy to see you."


def test_timeline_and_audio_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    timeline_path, audio_path = tmp_path / "t.json", tmp_path / "hello.ogg"
    assert main(["say", LINE, "--timeline-out", str(timeline_path), "--audio-out", str(audio_path)]) == 0
    doc = json.loads(timeline_path.read_text())
    timeline = parse_timeline(doc)
    assert timeline.audio is not None and timeline.audio.id == "hello.ogg"
    assert "happy_big" in [k.expr for k in timeline.emotion]
    assert audio_path.read_bytes()[:4] == b"OggS"
    err = capsys.readouterr().err
    assert "spoke" in err and "happy_big" in err and f"wrote {timeline_path}" in err


def test_timeline_alone_puts_the_audio_next_to_it(tmp_path: Path) -> None:
    assert main(["say", "Fine.", "--timeline-out", str(tmp_path / "line.json"), "-q"]) == 0
    assert loads((tmp_path / "line.json").read_text())["audio"]["id"] == "line.ogg"  # type: ignore[index]
    assert (tmp_path / "line.ogg").is_file()


def test_video_through_the_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    av = pytest.importorskip("av")
    out = tmp_path / "hello.mp4"
    assert main(["say", LINE, "-o", str(out), "--fps", "12", "--size", "128x192", "--quality", "draft", "-q"]) == 0
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio, "the video has the speech"
        assert float(container.duration or 0) / 1e6 > 1.5
    assert f"wrote {out}" in capsys.readouterr().out


def test_play_on_a_live_channel(make_server: MakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server = make_server(token="tok-for-say")
    monkeypatch.setenv("STREAMER_TOKEN", "tok-for-say")
    assert main(["say", "Wow, hello!", "--play", "main", "--server", server.base_url, "-q"]) == 0
    with server.client() as c:
        program = c.get("/channels/main").json()["program"]
    assert program is not None and program["timeline_id"] is None  # an inline timeline
    assert program["audio"]["url"].startswith("/audio/") and program["audio"]["url"].endswith(".opus")


def test_errors_are_one_line_and_a_nonzero_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_server: MakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = [
        (["say", "hi"], "nothing to do"),
        (["say", "", "--timeline-out", str(tmp_path / "a.json")], "text:"),
        (["say", "hi", "--audio-out", str(tmp_path / "bad name.ogg")], "--audio-out"),
        (["say", "hi", "--timeline-out", str(tmp_path / "nope" / "a.json")], "no such folder"),
        (["say", "hi", "--voice", "zz-none", "--timeline-out", str(tmp_path / "a.json")], "voice:"),
        (["say", "hi", "--play", "main", "--server", "http://127.0.0.1:9"], "cannot reach"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and message in err[-1], (argv, err)
    server = make_server(token="tok-for-say")
    monkeypatch.delenv("STREAMER_TOKEN", raising=False)
    assert main(["say", "hi", "--play", "main", "--server", server.base_url, "-q"]) == 2
    assert "401" in capsys.readouterr().err
