"""ElevenLabs through the official SDK against a local server speaking its wire format: speech, alignment, failures."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from streamer.cli import main
from streamer.core.resolve import resolve
from streamer.core.timeline import check_against_rig, parse_timeline
from streamer.server.errors import http_status
from streamer.speech.errors import ProviderError, ProviderUnavailable, SpeechInputError
from streamer.speech.say import say
from streamer.speech.services.elevenlabs import elevenlabs_forced_alignment, synthesize_elevenlabs
from tests.rigs import make_rig
from tests.server.conftest import MakeServer
from tests.speech.fakeapi import ELEVEN_KEY, FakeAPI, Scripted, mp3_tone, server_for, settings_for, tts_answer

LINE = "Hello there, I am so happy!"


def test_speech_has_the_services_audio_words_and_espeak_phonemes(fake: FakeAPI) -> None:
    speech = synthesize_elevenlabs(LINE, settings_for(fake), voice="voice123")
    (call,) = fake.calls("/with-timestamps")
    assert call.path == "/v1/text-to-speech/voice123/with-timestamps"
    assert call.headers["xi-api-key"] == ELEVEN_KEY
    assert call.json["text"] == LINE and call.json["model_id"] == "eleven_multilingual_v2"
    assert speech.sample_rate == 44_100 and speech.text == LINE
    assert abs(speech.duration_ms - (100 + len(LINE) * 70 + 300)) < 100  # MP3 padding is small
    assert [w.text for w in speech.words] == ["Hello", "there,", "I", "am", "so", "happy!"]
    # "Hello" is characters 0-4: 0.1 s + 5 x 70 ms.
    assert (speech.words[0].t_ms, speech.words[0].end_ms) == (100, 450)
    vowels = [p.arpabet for p in speech.phonemes if p.word == "happy!" and p.arpabet and p.arpabet[-1].isdigit()]
    assert vowels == ["AE1", "IY0"]
    for p in speech.phonemes:
        word = next(w for w in speech.words if w.text == p.word)
        assert word.t_ms <= p.t_ms < p.end_ms <= word.end_ms


def test_say_with_elevenlabs_gives_a_timeline_the_rig_can_play(fake: FakeAPI) -> None:
    rig = make_rig()
    said = say(LINE, rig.config.expressions, rig.config.visemes, provider="elevenlabs", settings=settings_for(fake))
    assert said.provider == "elevenlabs" and said.audio[:4] == b"OggS"
    doc = said.timeline("line.opus")
    timeline = parse_timeline(doc)
    check_against_rig(timeline, rig)
    resolve(timeline, rig)
    assert {c["viseme"] for c in doc["tracks"]["speech"]} >= {"speaking_ee", "speaking_ah"}
    assert [w["text"] for w in doc["tracks"]["words"]][-1] == "happy!"


def test_forced_alignment_places_words_with_confidence_from_loss(fake: FakeAPI) -> None:
    audio = mp3_tone(1500)
    settings = settings_for(fake)
    alignment = elevenlabs_forced_alignment(audio, "line.mp3", "hello brave world", settings, duration_ms=1500)
    (call,) = fake.calls("/v1/forced-alignment")
    assert call.form["text"] == "hello brave world"
    assert call.form["file"] == ("line.mp3", audio)
    assert alignment.provider == "elevenlabs"
    assert [(w.text, w.t_ms, w.end_ms) for w in alignment.words] == [
        ("hello", 200, 520),
        ("brave", 600, 920),
        ("world", 1000, 1320),
    ]
    assert all(w.confidence == pytest.approx(1 / 1.1, abs=1e-3) for w in alignment.words)
    assert alignment.duration_ms == 1500  # as the caller probed it, not the last word's end
    assert {p.word for p in alignment.phonemes} == {"hello", "brave", "world"}
    assert alignment.unplaced == [] and alignment.warnings == []


def test_forced_alignment_reports_words_the_service_did_not_place(fake: FakeAPI) -> None:
    answer = {
        "characters": [],
        "words": [
            {"text": "hello", "start": 0.1, "end": 0.4, "loss": 2.5},
            {"text": " ", "start": 0.4, "end": 0.5, "loss": 0.0},
            {"text": "world", "start": 0.5, "end": 0.9, "loss": 2.5},
        ],
        "loss": 2.5,
    }
    fake.script("align", Scripted(body=answer))
    alignment = elevenlabs_forced_alignment(mp3_tone(1000), "a.mp3", "hello brave world", settings_for(fake))
    assert [w.text for w in alignment.words] == ["hello", "world"]
    assert alignment.unplaced == ["brave"]
    assert any("low alignment confidence" in w for w in alignment.warnings)


def test_a_429_is_retried_when_retries_are_allowed(fake: FakeAPI) -> None:
    fake.script(
        "tts", Scripted(status=429, body={"detail": {"message": "too many requests"}}, headers={"retry-after": "1"})
    )
    speech = synthesize_elevenlabs("Hi there.", settings_for(fake, elevenlabs_max_retries=1))
    assert len(fake.calls("/with-timestamps")) == 2 and speech.words


@pytest.mark.parametrize(
    ("answer", "reason", "status", "words"),
    [
        (
            Scripted(status=429, body={"detail": {"message": "busy"}}, headers={"retry-after": "7"}),
            "rate_limited",
            429,
            ["429", "retry in 7 s"],
        ),
        (Scripted(status=500, body={"detail": "boom"}), "unavailable", 500, ["500", "try again later", "boom"]),
        (Scripted(status=503, body="upstream down"), "unavailable", 503, ["503"]),
        (
            Scripted(status=422, body={"detail": [{"msg": "voice not found"}]}),
            "rejected",
            422,
            ["422", "voice not found"],
        ),
        (Scripted(body="{not json"), "malformed", 200, ["malformed"]),
        (Scripted(body={"alignment": None}), "malformed", None, ["audio_base64"]),
        (Scripted(body={"audio_base64": "@@@", "alignment": None}), "malformed", None, ["not base64"]),
        (
            Scripted(
                body={
                    "audio_base64": base64.b64encode(b"junk").decode(),
                    "alignment": {
                        "characters": ["a"],
                        "character_start_times_seconds": [0.0],
                        "character_end_times_seconds": [0.1],
                    },
                }
            ),
            "malformed",
            None,
            ["not audio"],
        ),
        (
            Scripted(
                body={
                    **tts_answer("Hi"),
                    "alignment": {
                        "characters": ["H", "i"],
                        "character_start_times_seconds": [0.0],
                        "character_end_times_seconds": [0.1, 0.2],
                    },
                }
            ),
            "malformed",
            None,
            ["alignment", "2 characters but 1 start"],
        ),
        (
            Scripted(
                body={
                    **tts_answer("Hi"),
                    "alignment": {
                        "characters": ["H", "i"],
                        "character_start_times_seconds": [0.0, -1],
                        "character_end_times_seconds": [0.1, 0.2],
                    },
                }
            ),
            "malformed",
            None,
            ["character_start_times_seconds[1]"],
        ),
    ],
)
def test_failures_are_clear_errors_naming_the_provider_and_status(
    fake: FakeAPI, answer: Scripted, reason: str, status: int | None, words: list[str]
) -> None:
    fake.script("tts", answer)
    with pytest.raises(ProviderError) as caught:
        synthesize_elevenlabs("Hi", settings_for(fake))
    message = str(caught.value)
    assert message.startswith("elevenlabs: ") and caught.value.reason == reason, message
    assert caught.value.status == status
    for word in words:
        assert word in message, message


def test_a_wrong_key_is_unauthorized_and_names_the_variable(fake: FakeAPI) -> None:
    with pytest.raises(ProviderError, match=r"elevenlabs: unauthorized \(401\): check ELEVENLABS_API_KEY"):
        synthesize_elevenlabs("Hi", settings_for(fake, elevenlabs_api_key="wrong"))


def test_a_slow_service_times_out_at_the_configured_timeout(fake: FakeAPI) -> None:
    # The answer would come after 30 s; giving up well before it shows the timeout was honoured.
    fake.script("tts", Scripted(delay_s=30.0))
    started = time.monotonic()
    with pytest.raises(ProviderError, match="elevenlabs: timed out after 0.2 s") as caught:
        synthesize_elevenlabs("Hi", settings_for(fake, elevenlabs_timeout_ms=200))
    assert caught.value.reason == "timeout" and http_status(caught.value) == 504
    assert time.monotonic() - started < 15


def test_no_key_and_bad_voice_ids_are_input_errors(fake: FakeAPI) -> None:
    with pytest.raises(ProviderUnavailable, match="provider: 'elevenlabs' needs ELEVENLABS_API_KEY"):
        synthesize_elevenlabs("Hi", settings_for(fake, elevenlabs_api_key=None))
    with pytest.raises(ProviderUnavailable, match="ELEVENLABS_API_KEY"):
        say("Hi", ["neutral"], provider="elevenlabs")
    with pytest.raises(SpeechInputError, match="voice: '../x' is not an ElevenLabs voice id"):
        synthesize_elevenlabs("Hi", settings_for(fake), voice="../x")
    assert fake.requests == []


def test_post_speech_with_elevenlabs_stores_audio_and_timeline(make_server: MakeServer, fake: FakeAPI) -> None:
    server = server_for(make_server, fake, openai_api_key=None)  # the face from the rules
    with server.client(timeout=20) as c:
        r = c.post("/speech", json={"text": LINE, "provider": "elevenlabs", "voice": "abcDEF123"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["provider"] == "elevenlabs" and body["emotions"] == {"provider": "rules"}
        assert fake.calls("/with-timestamps")[0].path == "/v1/text-to-speech/abcDEF123/with-timestamps"
        assert [w["text"] for w in body["timeline"]["tracks"]["words"]][0] == "Hello"
        assert c.get(f"/audio/{body['audio_id']}").content[:4] == b"OggS"
        assert c.post("/channels/main/play", json={"timeline_id": body["timeline_id"]}).status_code == 200


@pytest.mark.parametrize(
    ("answer", "status", "retry_after"),
    [
        (Scripted(status=429, body={"detail": {"message": "busy"}}, headers={"retry-after": "9"}), 503, "9"),
        (Scripted(status=500, body={"detail": "boom"}), 502, None),
        (Scripted(body="{nope"), 502, None),
        (Scripted(delay_s=1.0), 504, None),
    ],
)
def test_post_speech_turns_service_failures_into_gateway_errors(
    make_server: MakeServer, fake: FakeAPI, answer: Scripted, status: int, retry_after: str | None
) -> None:
    server = server_for(make_server, fake, elevenlabs_timeout_ms=200)
    fake.script("tts", answer)
    with server.client(timeout=20) as c:
        r = c.post("/speech", json={"text": "Hi", "provider": "elevenlabs"})
    assert r.status_code == status, r.text
    assert r.json()["error"].startswith("elevenlabs: ") and r.json()["provider"] == "elevenlabs"
    assert r.headers.get("retry-after") == retry_after


def test_cli_say_with_elevenlabs(
    fake: FakeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "line.json"
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    assert main(["say", "Hi there.", "--provider", "elevenlabs", "--timeline-out", str(out)]) == 2
    assert "ELEVENLABS_API_KEY" in capsys.readouterr().err
    monkeypatch.setenv("ELEVENLABS_API_KEY", ELEVEN_KEY)
    monkeypatch.setenv("ELEVENLABS_BASE_URL", fake.elevenlabs_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["say", "Hi there.", "--provider", "elevenlabs", "--voice", "v1", "--timeline-out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "with ElevenLabs (voice v1" in err and "face planned by rules" in err
    assert parse_timeline(json.loads(out.read_text())).words[0].text == "Hi"
    fake.script("tts", Scripted(status=429, body={"detail": {"message": "busy"}}, headers={"retry-after": "30"}))
    monkeypatch.setenv("STREAMER_ELEVENLABS_MAX_RETRIES", "0")
    assert main(["say", "Hi.", "--provider", "elevenlabs", "--timeline-out", str(out)]) == 2
    assert "elevenlabs: rate limited (429): retry in 30 s" in capsys.readouterr().err
