"""Voices: language tags in any case, a list of the installed voices, and no silent default for an empty name."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from streamer.cli import main
from streamer.speech.errors import SpeechInputError
from streamer.speech.synthesis.espeak import synthesize
from streamer.speech.synthesis.voices import resolve_voice
from tests.server.conftest import MakeServer


@pytest.mark.parametrize(
    ("asked", "voice"),
    [
        ("en-GB", "gmw/en"),
        ("en-gb", "gmw/en"),
        ("EN_gb", "gmw/en"),
        ("en", "gmw/en"),
        ("en-us", "gmw/en-US"),
        ("en-US", "gmw/en-US"),
        ("fr-fr", "roa/fr"),
        ("fr-FR", "roa/fr"),
        ("fr", "roa/fr"),
        ("en-GB-x-rp", "gmw/en-GB-x-rp"),
        ("gmw/en", "gmw/en"),
        ("English (Great Britain)", "gmw/en"),
        ("en-gb+f3", "gmw/en+f3"),
    ],
)
def test_language_tags_names_and_identifiers_resolve_in_any_case(asked: str, voice: str) -> None:
    assert resolve_voice(asked) == voice


@pytest.mark.parametrize("asked", ["", "  ", "+f3", "xx-nope", "../../etc/passwd"])
def test_unknown_or_empty_voices_are_refused(asked: str) -> None:
    with pytest.raises(SpeechInputError, match="^voice: "):
        resolve_voice(asked)


def test_a_tag_speaks_with_its_voice() -> None:
    british, american = synthesize("Tomato", voice="en-GB"), synthesize("Tomato", voice="en-US")
    assert [p.symbol for p in synthesize("Tomato", voice="en-gb").phonemes] == [p.symbol for p in british.phonemes]
    assert [p.symbol for p in british.phonemes] != [p.symbol for p in american.phonemes]
    assert synthesize("Bonjour", voice="fr-FR").words[0].text == "Bonjour"


def test_voices_command_lists_name_language_and_gender(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["voices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["VOICE", "LANGUAGES", "GENDER", "NAME"]
    american = next(line for line in lines if line.startswith("en-US "))
    assert "en-us" in american and "male" in american and american.endswith("English (America)")
    assert len(lines) > 50
    assert main(["voices", "fr"]) == 0
    french = capsys.readouterr().out.splitlines()[1:]
    assert french and all("fr" in line for line in french)
    assert any(line.endswith("French (France)") for line in french)
    assert main(["voices", "xx"]) == 2
    assert capsys.readouterr().err.startswith("error: no espeak-ng voice for language 'xx'")


def test_say_refuses_an_empty_voice_and_takes_a_tag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.json"
    assert main(["say", "Hello", "--voice", "", "--timeline-out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: voice: must not be empty")
    assert not out.exists()
    assert main(["say", "Hello", "--voice", "en-GB", "--timeline-out", str(out), "-q"]) == 0
    assert out.is_file()


def test_speech_api_takes_tags_and_refuses_empty_voices(make_server: MakeServer) -> None:
    with make_server().client(timeout=60) as client:
        _check_speech_voices(client)


def _check_speech_voices(client: httpx.Client) -> None:
    assert client.post("/speech", json={"text": "Bonjour", "voice": "fr-FR"}).status_code == 201
    r = client.post("/speech", json={"text": "Hello", "voice": ""})
    assert r.status_code == 400 and r.json()["error"].startswith("voice: must not be empty")
