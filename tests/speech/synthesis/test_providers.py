"""The speech provider table: ``say`` speaks with whatever engine it names, and the CLI offers its names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streamer.cli import main
from streamer.settings import Settings
from streamer.speech.errors import SpeechInputError
from streamer.speech.model import Phoneme, Speech, Word
from streamer.speech.say import say
from streamer.speech.synthesis.providers import SPEECH_PROVIDERS
from tests.rigs import make_rig


class BeepSpeechProvider:
    """A stand-in engine: one 300 ms tone per word, an ``AA`` on each."""

    def speak(self, text: str, voice: str | None, rate_wpm: int, pitch: int, settings: Settings | None) -> Speech:
        words = [Word(i * 300, i * 300 + 250, w) for i, w in enumerate(text.split())]
        phonemes = [Phoneme(w.t_ms, w.end_ms, "a", "AA1", w.text) for w in words]
        t = np.arange(len(words) * 300 * 22_050 // 1000) / 22_050
        samples = (np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16)
        return Speech(samples=samples, sample_rate=22_050, words=words, phonemes=phonemes, text=text)

    def language(self, voice: str | None) -> str | None:
        return "en"


@pytest.fixture
def beep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SPEECH_PROVIDERS, "beep", BeepSpeechProvider())


@pytest.mark.usefixtures("beep")
def test_say_speaks_with_the_engine_the_table_names() -> None:
    rig = make_rig()
    said = say("so happy to see you", rig.config.expressions, rig.config.visemes, provider="beep")
    doc = said.timeline("line.opus")
    assert said.provider == "beep"
    assert [(w["t_ms"], w["text"]) for w in doc["tracks"]["words"]] == [
        (0, "so"),
        (300, "happy"),
        (600, "to"),
        (900, "see"),
        (1200, "you"),
    ]
    assert doc["duration_ms"] == 1500 + 500
    assert said.audio[:4] == b"OggS"


@pytest.mark.usefixtures("beep")
def test_the_cli_offers_every_engine_in_the_table(tmp_path: Path) -> None:
    out = tmp_path / "line.json"
    assert main(["say", "hello there", "--provider", "beep", "--timeline-out", str(out), "-q"]) == 0
    assert [w["text"] for w in json.loads(out.read_text())["tracks"]["words"]] == ["hello", "there"]


def test_an_unknown_engine_is_refused_naming_the_table() -> None:
    listed = r"provider: 'mbrola' is not available \(available: offline, elevenlabs\)"
    with pytest.raises(SpeechInputError, match=listed):
        say("hello", ["neutral"], provider="mbrola")
