"""Choosing the aligner: offline, ElevenLabs forced alignment or Whisper, through POST /align and `streamer align`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamer.cli import main
from streamer.settings import Settings
from streamer.speech.alignment.providers import ALIGNERS, align_with_provider, choose_aligner
from streamer.speech.errors import ProviderError, ProviderUnavailable, SpeechInputError
from streamer.speech.model import AlignedWord, Alignment
from tests.server.conftest import MakeServer, wav_bytes
from tests.speech.fakeapi import ELEVEN_KEY, FakeAPI, Scripted, server_for, settings_for

NO_KEYS = Settings.from_env({})


def test_choose_aligner_resolves_auto_and_checks_keys_and_transcripts(fake: FakeAPI) -> None:
    both = settings_for(fake)
    assert choose_aligner("auto", True, both) == "elevenlabs"
    assert choose_aligner("auto", False, both) == "whisper"
    assert choose_aligner("auto", True, NO_KEYS) == "offline"
    assert choose_aligner("auto", False, None) == "offline"
    assert choose_aligner("offline", False, None) == "offline"
    with pytest.raises(SpeechInputError, match="transcript: is required for provider 'elevenlabs'"):
        choose_aligner("elevenlabs", False, both)
    with pytest.raises(SpeechInputError, match="transcript: provider 'whisper' transcribes"):
        choose_aligner("whisper", True, both)
    with pytest.raises(ProviderUnavailable, match="provider: 'whisper' needs OPENAI_API_KEY"):
        choose_aligner("whisper", False, NO_KEYS)
    with pytest.raises(SpeechInputError, match="provider: must be one of offline, elevenlabs, whisper, auto"):
        choose_aligner("mfa", True, both)


def test_each_service_gets_the_recording_and_auto_falls_back_offline(fake: FakeAPI) -> None:
    audio = wav_bytes(1500)
    alignment = align_with_provider(
        audio, "hello brave world", provider="elevenlabs", settings=settings_for(fake), filename="take.opus"
    )
    assert alignment.provider == "elevenlabs" and [w.text for w in alignment.words] == ["hello", "brave", "world"]
    assert fake.calls("/v1/forced-alignment")[0].form["file"] == ("take.ogg", audio)
    alignment = align_with_provider(audio, provider="whisper", settings=settings_for(fake), filename="take.wav")
    assert alignment.provider == "whisper" and alignment.words
    fake.script("align", Scripted(status=500, body={"detail": "down"}))
    with pytest.raises(ProviderError, match=r"elevenlabs: service error \(500\)"):
        align_with_provider(audio, "hello", provider="elevenlabs", settings=settings_for(fake))
    fake.script("align", Scripted(status=500, body={"detail": "down"}))
    alignment = align_with_provider(audio, "hello", provider="auto", settings=settings_for(fake))
    assert alignment.provider in ("offline", "loudness")
    assert any(
        w.startswith("elevenlabs: service error (500)") and "offline aligner stood in" in w for w in alignment.warnings
    )


def test_post_align_with_a_provider(make_server: MakeServer, fake: FakeAPI) -> None:
    audio = wav_bytes(1500)
    with server_for(make_server, fake).client(timeout=30) as c:
        files = {"audio": ("take.wav", audio, "audio/wav")}
        r = c.post("/align", files=files, data={"transcript": "hello brave world", "provider": "elevenlabs"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["provider"] == "elevenlabs" and [w["text"] for w in body["words"]] == ["hello", "brave", "world"]
        assert body["timeline"]["tracks"]["speech"]
        r = c.post("/align", files=files, data={"provider": "whisper"})
        assert r.status_code == 201, r.text
        assert r.json()["provider"] == "whisper"
        fake.script("align", Scripted(status=429, body={"detail": {"message": "busy"}}, headers={"retry-after": "4"}))
        r = c.post("/align", files=files, data={"transcript": "hello", "provider": "elevenlabs"})
        assert r.status_code == 503 and r.headers["retry-after"] == "4"
        assert r.json()["error"].startswith("elevenlabs: rate limited (429)")
        r = c.post("/align", files=files, data={"transcript": "hello", "provider": "whisper"})
        assert r.status_code == 400 and r.json()["error"].startswith("transcript: provider 'whisper'")


def test_cli_align_with_elevenlabs(
    fake: FakeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "take.wav"
    source.write_bytes(wav_bytes(1500))
    monkeypatch.setenv("ELEVENLABS_API_KEY", ELEVEN_KEY)
    monkeypatch.setenv("ELEVENLABS_BASE_URL", fake.elevenlabs_url)
    out = tmp_path / "line.json"
    argv = ["align", str(source), "--text", "hello brave world", "--provider", "elevenlabs", "-o", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "ElevenLabs forced alignment" in captured.err and "placed 3/3 words" in captured.out
    assert [w["text"] for w in json.loads(out.read_text())["tracks"]["words"]] == ["hello", "brave", "world"]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["align", str(source), "--provider", "whisper", "-o", str(out)]) == 2
    assert "provider: 'whisper' needs OPENAI_API_KEY" in capsys.readouterr().err


class EvenAligner:
    """A stand-in service: the transcript's words spread evenly over a fixed 1.2 s."""

    label = "evenly spread"
    in_auto = True

    def check(self, has_transcript: bool, settings: Settings | None) -> None:
        if not has_transcript:
            raise SpeechInputError("transcript: is required for provider 'even'")

    def align(
        self,
        source: bytes | str | Path,
        transcript: str | None,
        settings: Settings | None,
        *,
        filename: str,
        voice: str,
        max_duration_ms: int,
    ) -> Alignment:
        assert transcript is not None
        words = transcript.split()
        step = 1200 // len(words)
        placed = [AlignedWord(i * step, (i + 1) * step, w) for i, w in enumerate(words)]
        return Alignment(words=placed, phonemes=[], duration_ms=1200, provider="even")


def test_an_aligner_in_the_table_is_chosen_by_name_and_by_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ALIGNERS, "even", EvenAligner())
    audio = wav_bytes(1200)
    alignment = align_with_provider(audio, "one two three", provider="even", settings=NO_KEYS)
    assert [(w.t_ms, w.text) for w in alignment.words] == [(0, "one"), (400, "two"), (800, "three")]
    # auto tries the services in table order: ElevenLabs has no key here, so the new one is next.
    assert choose_aligner("auto", True, NO_KEYS) == "even"
    assert choose_aligner("auto", False, NO_KEYS) == "offline"
    with pytest.raises(SpeechInputError, match="transcript: is required for provider 'even'"):
        choose_aligner("even", False, NO_KEYS)
