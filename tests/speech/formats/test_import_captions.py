"""`streamer import`, `streamer captions` and the captions / lip-sync REST routes, end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from streamer.cli import main
from streamer.core.timeline import parse_timeline
from streamer.speech.formats.imports import parse_rhubarb_json, parse_textgrid
from tests.server.conftest import MakeServer, write_png_rig

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parents[3] / "examples"
WORDS_TIMELINE = {
    "version": 1,
    "tracks": {
        "speech": [{"t_ms": 300, "end_ms": 500, "viseme": "speaking_ah", "phoneme": "AA1", "word": "hello"}],
        "words": [{"t_ms": 300, "end_ms": 700, "text": "hello"}, {"t_ms": 700, "end_ms": 1200, "text": "world"}],
    },
    "meta": {"text": "Hello, world!"},
    "duration_ms": 2000,
}


def test_import_a_textgrid_with_its_audio_then_export_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(EXAMPLES / "hello.ogg", tmp_path / "hello.ogg")
    out = tmp_path / "hello.json"
    grid = str(FIXTURES / "mfa_hello.TextGrid")
    assert main(["import", grid, "--audio", str(tmp_path / "hello.ogg"), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    timeline = parse_timeline(doc)
    assert timeline.audio is not None and timeline.audio.id == "hello.ogg"
    assert [w.text for w in timeline.words] == ["hello", "world"] and timeline.speech
    assert f"wrote {out} from textgrid" in capsys.readouterr().err

    for name in ("c.srt", "c.vtt", "c.json", "c.tsv", "c.TextGrid"):
        assert main(["captions", str(out), "-o", str(tmp_path / name), "-q"]) == 0
    assert (tmp_path / "c.srt").read_text().startswith("1\n00:00:00,310 --> 00:00:01,310\nhello world\n")
    assert (tmp_path / "c.vtt").read_text().startswith("WEBVTT\n\n00:00:00.310 --> 00:00:01.310\nhello world\n")
    rhubarb = parse_rhubarb_json((tmp_path / "c.json").read_text())
    assert rhubarb.sound_file == "hello.ogg" and rhubarb.cues[0].shape == "X"
    assert (tmp_path / "c.tsv").read_text().startswith("0.00\tX\n")
    grid_out = parse_textgrid((tmp_path / "c.TextGrid").read_text())
    assert [t.name for t in grid_out.tiers] == ["words", "phones"]


def test_import_rhubarb_and_keyframes(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    assert main(["import", str(FIXTURES / "rhubarb_hello.tsv"), "-o", str(out), "-q"]) == 0
    assert len(json.loads(out.read_text())["tracks"]["speech"]) == 5
    assert main(["import", str(FIXTURES / "rhubarb_hello.json"), "--audio", "hello.wav", "-o", str(out), "-q"]) == 0
    assert json.loads(out.read_text())["audio"] == {"id": "hello.wav", "offset_ms": 0}
    assert main(["import", str(EXAMPLES / "face_rig_keyframes.json"), "-o", str(out), "-q"]) == 0
    assert json.loads(out.read_text())["version"] == 1


@pytest.mark.parametrize("value", ["-5", "1001", "soon"])
def test_a_bad_anticipation_is_one_error_line_and_a_nonzero_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    out = tmp_path / "t.json"
    with pytest.raises(SystemExit) as exited:
        main(["import", str(FIXTURES / "mfa_hello.TextGrid"), "-o", str(out), "--anticipation-ms", value])
    assert exited.value.code != 0
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if "error:" in line]
    assert errors == [lines[-1]] and "--anticipation-ms: must be" in errors[0]
    assert not any("Traceback" in line for line in lines)
    assert not out.exists()


def test_word_mode_and_stdout_captions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.json"
    grid = str(FIXTURES / "mfa_hello.TextGrid")
    assert main(["import", grid, "-o", str(out), "--lipsync", "word", "--anticipation-ms", "0", "-q"]) == 0
    assert json.loads(out.read_text())["tracks"]["speech"][0]["t_ms"] == 310
    capsys.readouterr()
    assert main(["captions", str(out), "-o", "-", "--format", "vtt"]) == 0
    assert capsys.readouterr().out.startswith("WEBVTT\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import", "{fixtures}/nope.TextGrid", "-o", "{tmp}/t.json"], "cannot read"),
        (["import", "{fixtures}/mfa_hello.TextGrid", "-o", "{tmp}/t.json", "--audio", "a b.wav"], "--audio"),
        (["captions", "{tmp}/empty.json", "-o", "{tmp}/c.srt"], "tracks.words: the timeline has no words"),
        (["captions", "{tmp}/empty.json", "-o", "{tmp}/c.txt"], "unknown caption"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "empty.json").write_text(json.dumps({"version": 1, "tracks": {}}))
    argv = [a.format(fixtures=FIXTURES, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_captions_and_lipsync_over_rest(make_server: MakeServer) -> None:
    server = make_server()
    with server.client() as c:
        assert c.post("/timelines?id=greeting", json=WORDS_TIMELINE).status_code == 201
        assert c.post("/timelines?id=silent", json={"version": 1, "tracks": {}}).status_code == 201
        srt = c.get("/timelines/greeting/captions.srt")
        assert srt.status_code == 200 and srt.headers["content-type"].startswith("application/x-subrip")
        assert srt.text == "1\n00:00:00,300 --> 00:00:01,300\nHello, world!\n"
        vtt = c.get("/timelines/greeting/captions.vtt")
        assert vtt.headers["content-type"] == "text/vtt; charset=utf-8" and vtt.text.startswith("WEBVTT\n\n")
        lipsync = c.get("/timelines/greeting/lipsync.json")
        assert lipsync.headers["content-type"] == "application/json"
        assert [cue["value"] for cue in lipsync.json()["mouthCues"]] == ["X", "D", "X"]
        assert c.get("/timelines/greeting").json() == WORDS_TIMELINE  # the timeline routes are untouched
        missing = c.get("/timelines/silent/captions.srt")
        assert missing.status_code == 422 and "no words" in missing.json()["error"]
        assert c.get("/timelines/silent/lipsync.json").status_code == 422
        assert c.get("/timelines/nobody/captions.vtt").status_code == 404
        assert c.get("/rig").json()["visemes"]["AA"] == "speaking_ah"  # what `say --play` maps with


def test_captions_read_mouth_shapes_through_the_configured_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig_dir = write_png_rig(tmp_path / "rig")
    config = json.loads((rig_dir / "rig.json").read_text())
    (rig_dir / "rig.json").write_text(json.dumps({**config, "visemes": {"AA": "speaking_ee"}}))
    timeline = tmp_path / "t.json"
    cue = {"t_ms": 0, "end_ms": 200, "viseme": "speaking_ee"}  # no phoneme: the rig's map picks the sound
    timeline.write_text(json.dumps({"version": 1, "tracks": {"speech": [cue]}, "duration_ms": 400}))
    monkeypatch.delenv("STREAMER_FRAMES_DIR", raising=False)
    assert main(["captions", str(timeline), "-o", str(tmp_path / "default.tsv"), "-q"]) == 0
    monkeypatch.setenv("STREAMER_FRAMES_DIR", str(rig_dir))
    assert main(["captions", str(timeline), "-o", str(tmp_path / "rig.tsv"), "-q"]) == 0
    assert (tmp_path / "default.tsv").read_text().startswith("0.00\tB\n")  # IY in the demo rig's map
    assert (tmp_path / "rig.tsv").read_text().startswith("0.00\tD\n")  # AA in this rig's map
