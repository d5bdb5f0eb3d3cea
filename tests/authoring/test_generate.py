"""`streamer rig generate`: the openai SDK against the loopback fake server, with cost, resume and failures."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from streamer.cli import main
from streamer.rigs.files import read_rgba
from tests.speech.fakeapi import OPENAI_KEY, FakeAPI, Scripted, image_answer

SIZE = "64x96"
ALL = 49  # 10 expressions x 5 poses, less the picture itself


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    """A character on a green screen."""
    img = Image.new("RGB", (128, 192), (0, 255, 0))
    d = ImageDraw.Draw(img)
    d.rectangle((24, 130, 104, 192), fill=(40, 150, 140))
    d.ellipse((30, 30, 98, 130), fill=(250, 220, 200), outline=(60, 40, 40), width=3)
    d.pieslice((26, 20, 102, 90), 180, 360, fill=(160, 80, 40))
    path = tmp_path / "pip.png"
    img.save(path)
    return path


@pytest.fixture
def keyed(fake: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> FakeAPI:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_url)
    return fake


def generate(picture: Path, out: Path, *extra: str) -> int:
    argv = ["rig", "generate", "--from", str(picture), "--out", str(out), "--size", SIZE, "-q"]
    return main([*argv, "--retries", "2", *extra])


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def test_dry_run_prints_the_count_and_cost_and_spends_nothing(
    picture: Path, tmp_path: Path, fake: FakeAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    assert generate(picture, tmp_path / "rig", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"{ALL} images to make with gpt-image-1 (high, 1024x1536) at about $0.250 each: about $12.25" in out
    assert "In-betweens made offline afterwards (free)" in out
    assert generate(picture, tmp_path / "rig", "--dry-run", "--tweens", "ai", "--quality", "low") == 0
    assert f"{ALL + 327} images to make" in capsys.readouterr().out
    assert not (tmp_path / "rig").exists() and not fake.requests


def test_a_missing_key_is_one_line_before_any_work(
    picture: Path, tmp_path: Path, fake: FakeAPI, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert generate(picture, tmp_path / "rig", "--yes") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: OPENAI_API_KEY is not set: export OPENAI_API_KEY=sk-... (a key from https://platform.openai.com/api-keys)"
    ]
    assert not (tmp_path / "rig").exists() and not fake.requests


def test_asks_before_spending(
    picture: Path, tmp_path: Path, keyed: FakeAPI, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert generate(picture, tmp_path / "rig") == 1
    assert "cancelled; nothing was spent" in capsys.readouterr().err
    assert not keyed.requests and not (tmp_path / "rig").exists()


def test_end_to_end_a_checked_rig(
    picture: Path, tmp_path: Path, keyed: FakeAPI, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = tmp_path / "rig"
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert generate(picture, rig, "--max-workers", "3") == 0
    assert f"made {ALL} images, kept 0" in capsys.readouterr().out
    calls = keyed.calls("/images/edits")
    assert len(calls) == ALL
    first = calls[0].form
    assert (first["model"], first["size"], first["quality"], first["background"]) == (
        "gpt-image-1",
        "1024x1536",
        "high",
        "transparent",
    )
    assert all(c.headers["authorization"] == f"Bearer {OPENAI_KEY}" for c in calls)
    # The green screen is keyed out of the picture; the picture is neutral at the centre.
    neutral = read_rgba(rig / "endpoints/neutral__center.png")
    assert neutral.shape == (96, 64, 4) and neutral[2, 2, 3] == 0 and neutral[50, 32, 3] == 255
    # Head poses are edited from their expression's centre image.
    centre = {e: read_rgba(rig / f"endpoints/{e}__center.png") for e in ("neutral", "speaking_ah", "happy_big")}
    sources = []
    for call in calls:
        if "same expression" in call.form["prompt"]:
            sent = np.asarray(Image.open(io.BytesIO(call.images[0])).convert("RGBA"))
            sources += [e for e, img in centre.items() if (img == sent).all()]
    assert sorted(sources) == sorted(["neutral", "speaking_ah", "happy_big"] * 4)
    assert len(list((rig / "sequences").iterdir())) == 109
    report = json.loads((rig / "generate-report.json").read_text())
    assert len(report["made"]) == ALL and report["failed"] == {}
    assert main(["rig", "check", str(rig)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ok"


def test_429_and_5xx_are_retried(picture: Path, tmp_path: Path, keyed: FakeAPI) -> None:
    busy = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    keyed.script(
        "images",
        Scripted(429, busy, {"retry-after": "0"}),
        Scripted(503, {"error": {"message": "overloaded"}}, {"retry-after": "0"}),
    )
    assert generate(picture, tmp_path / "rig", "--yes", "--max-workers", "1") == 0
    assert len(keyed.calls("/images/edits")) == ALL + 2


def test_a_500_mid_run_keeps_what_was_made_and_a_rerun_makes_the_rest(
    picture: Path, tmp_path: Path, keyed: FakeAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = tmp_path / "rig"
    boom = {"error": {"message": "The server had an error", "type": "server_error"}}
    keyed.script("images", *[Scripted() for _ in range(4)], *[Scripted(500, boom, {"retry-after": "0"})] * 3)
    assert generate(picture, rig, "--yes", "--max-workers", "1") == 1
    captured = capsys.readouterr()
    failed = [line for line in captured.err.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1 and failed[0].endswith("500 The server had an error after 3 tries")
    resume = f"Resume with: streamer rig generate --from {picture} --out {rig} --yes"
    assert (
        captured.err.strip().splitlines()[-1]
        == f"error: 1 images failed (4 more wait on them); what was made is kept. {resume}"
    )
    made = sorted(p.name for p in (rig / "endpoints").iterdir())
    assert len(made) == 1 + ALL - 1 - 4  # the picture, less the failed one and its four head poses
    before = {name: (rig / "endpoints" / name).read_bytes() for name in made}
    keyed.requests.clear()

    assert generate(picture, rig, "--yes") == 0
    assert len(keyed.calls("/images/edits")) == 5
    assert all((rig / "endpoints" / name).read_bytes() == data for name, data in before.items())
    assert main(["rig", "check", str(rig)]) == 0


def test_a_spent_quota_stops_keeps_and_says_how_to_resume(
    picture: Path, tmp_path: Path, keyed: FakeAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = tmp_path / "rig"
    quota = {
        "error": {
            "message": "You exceeded your current quota",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        }
    }
    keyed.script("images", Scripted(), Scripted(), Scripted(429, quota))
    assert generate(picture, rig, "--yes", "--max-workers", "1") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "error: quota exceeded (insufficient_quota): You exceeded your current quota; what was made is kept. "
        f"Resume with: streamer rig generate --from {picture} --out {rig} --yes"
    )
    assert len(keyed.calls("/images/edits")) == 3, "no request after the quota ran out"
    assert len(list((rig / "endpoints").iterdir())) == 3


def test_drifting_images_are_regenerated_then_flagged(
    picture: Path, tmp_path: Path, keyed: FakeAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = tmp_path / "rig"
    redrawn = png_bytes(255 - np.asarray(Image.open(picture).convert("RGBA").resize((64, 96))))  # another character
    redrawn_rgba = np.asarray(Image.open(io.BytesIO(redrawn)).convert("RGBA")).copy()
    redrawn_rgba[..., 3] = 255
    drifted = image_answer(png_bytes(redrawn_rgba))
    keyed.script("images", Scripted(body=drifted), *[Scripted(body=drifted)] * 3)
    assert generate(picture, rig, "--yes", "--max-workers", "1", "--max-regenerations", "2") == 0
    out = capsys.readouterr().out
    report = json.loads((rig / "generate-report.json").read_text())["drift"]
    flagged = [k for k, v in report.items() if v["flagged"]]
    regenerated = [k for k, v in report.items() if not v["flagged"]]
    assert len(flagged) == 1 and report[flagged[0]]["tries"] == 3
    assert f"drift: {flagged[0]}:" in out
    assert len(regenerated) == 1 and report[regenerated[0]]["tries"] == 2
    assert len(keyed.calls("/images/edits")) == ALL + 3  # two remakes of the first, one of the second


@pytest.mark.parametrize("what", ["not_an_image", "another_rig", "not_a_rig"])
def test_bad_input_is_one_error_line_and_nothing_is_lost(
    picture: Path, tmp_path: Path, keyed: FakeAPI, capsys: pytest.CaptureFixture[str], what: str
) -> None:
    rig = tmp_path / "rig"
    rig.mkdir()
    if what == "not_an_image":
        picture.write_text("hello")
        expected = f"error: {picture}: not a readable image"
    elif what == "another_rig":
        (rig / "rig.json").write_text("{}")
        expected = (
            f"error: {rig}: already holds something else (not a rig generated from this picture); pass --overwrite"
        )
    else:
        (rig / "notes.txt").write_text("mine")
        expected = f"error: {rig}: already holds something else"
    assert generate(picture, rig, "--yes") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(expected), err
    assert not keyed.requests
    if what == "not_a_rig":
        assert generate(picture, rig, "--yes", "--overwrite") == 2
        assert "not empty and not a rig" in capsys.readouterr().err
        assert (rig / "notes.txt").read_text() == "mine"


def test_ai_in_betweens_are_edited_from_both_endpoints(
    picture: Path, tmp_path: Path, keyed: FakeAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "axes": {"mouth": ["neutral", "ah"], "eyes": ["neutral"], "brows": ["neutral"]},
        "poses": ["center"],
        "expressions": {
            "neutral": {"mouth": "neutral", "eyes": "neutral", "brows": "neutral"},
            "speaking_ah": {"mouth": "ah", "eyes": "neutral", "brows": "neutral"},
        },
        "base_paths": [{"id": "neutral_to_speaking_ah", "start": "neutral", "end": "speaking_ah"}],
    }
    (tmp_path / "rig.json").write_text(json.dumps(config))
    rig = tmp_path / "rig"
    assert generate(picture, rig, "--yes", "--tweens", "ai", "--config", str(tmp_path / "rig.json")) == 0
    calls = keyed.calls("/images/edits")
    assert len(calls) == 1 + 3
    tweens = [c for c in calls if len(c.images) == 2]
    assert sorted(c.form["prompt"].split(" of the way")[0] for c in tweens) == [
        "A frame 25%",
        "A frame 50%",
        "A frame 75%",
    ]
    manifest = json.loads((rig / "sequences/neutral_to_speaking_ah__center/manifest.json").read_text())
    assert [f["file"] for f in manifest["frames"]] == ["025.png", "050.png", "075.png"]
    assert main(["rig", "check", str(rig)]) == 0
