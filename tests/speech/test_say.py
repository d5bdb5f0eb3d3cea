"""The offline say pipeline: text -> Ogg/Opus audio + a v1 timeline with speech, words and emotions."""

from __future__ import annotations

import io

import pytest

from streamer.core.resolve import resolve
from streamer.core.rig import Rig, State
from streamer.core.timeline import check_against_rig, parse_timeline
from streamer.speech import SpeechInputError
from streamer.speech.say import MAX_SAY_CHARS, Said, say
from tests.rigs import make_rig

LINE = "Hello! I am so happy to see you."


@pytest.fixture(scope="module")
def rig() -> Rig:
    return make_rig()


@pytest.fixture(scope="module")
def said(rig: Rig) -> Said:
    return say(LINE, rig.config.expressions, rig.config.visemes)


def test_the_timeline_has_speech_words_and_a_smile(said: Said, rig: Rig) -> None:
    doc = said.timeline("line.opus")
    timeline = parse_timeline(doc)
    check_against_rig(timeline, rig)
    assert doc["audio"] == {"id": "line.opus", "offset_ms": 0}
    assert [w["text"] for w in doc["tracks"]["words"]][-3:] == ["to", "see", "you"]
    assert len(doc["tracks"]["speech"]) >= 8
    exprs = [k["expr"] for k in doc["tracks"]["emotion"]]
    assert "happy_big" in exprs and exprs[-1] == "neutral"
    # The changes sit on word starts and inside the timeline.
    starts = {w["t_ms"] for w in doc["tracks"]["words"]}
    assert all(k["t_ms"] in starts for k in doc["tracks"]["emotion"][:-1])
    assert doc["tracks"]["emotion"][-1]["t_ms"] < doc["duration_ms"] == said.duration_ms
    # It resolves to frames on the rig, and ends neutral (the last change runs in full).
    schedule = resolve(timeline, rig)
    assert schedule.duration_ms >= doc["duration_ms"]
    assert rig.state_of_key(schedule.changes[-1][1]) == State("neutral", "center")


def test_the_audio_is_ogg_opus_of_the_speech_length(said: Said) -> None:
    av = pytest.importorskip("av")
    assert said.audio[:4] == b"OggS" and said.audio_ext == "opus"
    with av.open(io.BytesIO(said.audio)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        seconds = float(stream.duration * stream.time_base)
    assert abs(seconds * 1000 - said.speech.duration_ms) < 80


def test_it_is_deterministic(said: Said, rig: Rig) -> None:
    again = say(LINE, rig.config.expressions, rig.config.visemes)
    assert again.audio == said.audio
    assert again.timeline("a.opus") == said.timeline("a.opus")


def test_a_worried_line_looks_concerned(rig: Rig) -> None:
    exprs = [k["expr"] for k in say("Oh no. I am really worried.", rig.config.expressions).emotion]
    assert exprs == ["concerned", "neutral"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "a" * (MAX_SAY_CHARS + 1)}, "text"),
        ({"text": "hi", "provider": "elevenlabs"}, "provider"),
        ({"text": "hi", "voice": "no such voice!"}, "voice"),
        ({"text": "hi", "rate_wpm": 5}, "rate_wpm"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, object], field: str, rig: Rig) -> None:
    text = kwargs.pop("text")
    with pytest.raises(SpeechInputError, match=rf"^{field}:"):
        say(text, rig.config.expressions, **kwargs)  # type: ignore[arg-type]
