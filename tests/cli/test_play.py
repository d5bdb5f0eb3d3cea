"""`streamer play TIMELINE.json`: uploads the timeline and its audio, plays it, says who is watching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.sync.client import connect

from streamer.cli import main
from tests.server.conftest import MakeServer, wav_bytes

LINE = "Good morning, chat."


@pytest.fixture
def said(tmp_path: Path) -> Path:
    """`streamer say --timeline-out`'s output: a timeline and its audio next to it."""
    timeline = tmp_path / "morning.json"
    assert main(["say", LINE, "--timeline-out", str(timeline), "-q"]) == 0
    return timeline


def test_plays_a_said_line_with_its_audio(
    said: Path, make_server: MakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = make_server()
    ws_url = server.base_url.replace("http", "ws", 1) + "/ws?channel=studio"
    with connect(ws_url) as viewer:
        json.loads(viewer.recv())  # hello: the viewer is registered
        assert main(["play", str(said), "--server", server.base_url, "--channel", "studio"]) == 0
    err = capsys.readouterr().err
    assert "1 viewer on channel 'studio'" in err and "warning" not in err
    with server.client() as client:
        program = client.get("/channels/studio").json()["program"]
        stored = {t["id"]: t for t in client.get("/timelines").json()}[program["timeline_id"]]
        assert stored["name"] == LINE
        audio = client.get(program["audio"]["url"])
    assert audio.status_code == 200
    assert audio.content == said.with_suffix(".ogg").read_bytes()
    assert f"playing {LINE!r}" in err


def test_warns_when_nobody_watches_the_channel(
    said: Path, make_server: MakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = make_server()
    assert main(["play", str(said), "--server", server.base_url, "--channel", "nosuchchan", "-q"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"warning: nobody is watching channel 'nosuchchan': open {server.base_url}/client/obs.html?channel=nosuchchan"
        " or check the channel name"
    ]


def test_say_play_says_who_is_watching(make_server: MakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    server = make_server()
    assert main(["say", "Hi!", "--play", "typo", "--server", server.base_url, "-q"]) == 0
    assert "warning: nobody is watching channel 'typo'" in capsys.readouterr().err


def test_a_timeline_without_audio_is_named_by_its_file(
    tmp_path: Path, make_server: MakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wave hello.json"
    path.write_text(json.dumps({"version": 1, "tracks": {"emotion": [{"t_ms": 0, "expr": "happy_soft"}]}}))
    server = make_server()
    assert main(["play", str(path), "--server", server.base_url, "-q"]) == 0
    with server.client() as client:
        program = client.get("/channels/main").json()["program"]
        names = {t["id"]: t["name"] for t in client.get("/timelines").json()}
    assert names[program["timeline_id"]] == "wave hello.json" and program["audio"] is None


def test_errors_are_one_line(
    tmp_path: Path, said: Path, make_server: MakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = make_server(token="tok-for-play")
    lonely = tmp_path / "lonely.json"
    lonely.write_text(json.dumps(dict(json.loads(said.read_text()), audio={"id": "missing.ogg"})))
    take = tmp_path / "take.wav"
    take.write_bytes(wav_bytes(200))
    cases = [
        (["play", str(said), "--server", server.base_url], "401"),
        (["play", str(lonely), "--server", server.base_url], "audio 'missing.ogg': not found next to"),
        (["play", str(take), "--server", server.base_url], "not a timeline"),
        (["play", str(tmp_path / "none.json"), "--server", server.base_url], "cannot read the timeline"),
        (["play", str(said), "--server", "http://127.0.0.1:9"], "cannot reach"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], (argv, err)
