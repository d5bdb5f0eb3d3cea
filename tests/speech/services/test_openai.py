"""OpenAI through the official SDK against a local server speaking its wire format: plans, Whisper, fallbacks."""

from __future__ import annotations

import json
import time

import pytest

from streamer.core.timeline import WordSpan
from streamer.speech.errors import ProviderError, ProviderUnavailable, SpeechInputError
from streamer.speech.say import say
from streamer.speech.services.openai_planner import choose_emotions, plan_emotions_openai
from streamer.speech.services.whisper import whisper_alignment
from tests.rigs import make_rig
from tests.server.conftest import MakeServer
from tests.speech.fakeapi import OPENAI_KEY, FakeAPI, Scripted, chat_completion, server_for, settings_for

WORDS = [
    WordSpan(0, 300, "Hello!"),
    WordSpan(350, 500, "I"),
    WordSpan(550, 700, "am"),
    WordSpan(750, 1000, "so"),
    WordSpan(1050, 1500, "happy."),
    WordSpan(1700, 1900, "But"),
    WordSpan(1950, 2300, "worried."),
]
TEXT = "Hello! I am so happy. But worried."
EXPRESSIONS = ["neutral", "happy_soft", "happy_big", "speaking_ah", "concerned", "blink_closed"]
EXCLUDE = ["speaking_ah", "blink_closed"]


def plan(*changes: tuple[int, str]) -> Scripted:
    return Scripted(
        body=chat_completion(json.dumps({"changes": [{"word_index": i, "expression": e} for i, e in changes]}))
    )


def test_the_plan_uses_a_strict_schema_of_rig_expressions_and_snaps_to_words(fake: FakeAPI) -> None:
    fake.script("chat", plan((4, "happy_big"), (6, "concerned")))
    chosen = choose_emotions(WORDS, EXPRESSIONS, TEXT, "openai", settings_for(fake), exclude=EXCLUDE)
    assert chosen.provider == "openai" and chosen.fallback is None
    assert chosen.emotion == [
        {"t_ms": 1050, "expr": "happy_big", "transition_ms": 400},
        {"t_ms": 1950, "expr": "concerned", "transition_ms": 600},
        {"t_ms": 2650, "expr": "neutral", "transition_ms": 500},
    ]
    (call,) = fake.calls("/v1/chat/completions")
    assert call.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    request = call.json
    assert request["model"] == "gpt-4o-mini"
    fmt = request["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    item = fmt["json_schema"]["schema"]["properties"]["changes"]["items"]
    assert item["properties"]["expression"]["enum"] == ["neutral", "happy_soft", "happy_big", "concerned"]
    assert item["additionalProperties"] is False and sorted(item["required"]) == ["expression", "word_index"]
    assert "6=worried." in request["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Scripted(body=chat_completion(None, refusal="I can't help with that.")), "the model refused: I can't help"),
        (Scripted(body=chat_completion('{"changes": [{"word_in', finish_reason="length")), "cut off"),
        (
            Scripted(body=chat_completion("not json")),
            "malformed response: the plan breaks the schema: answer: not JSON",
        ),
        (plan((2, "furious")), "changes[0].expression: 'furious' is not one of the rig's expressions"),
        (plan((2, "speaking_ah")), "'speaking_ah' is not one of the rig's expressions"),
        (plan((99, "happy_big")), "changes[0].word_index: must be an integer in [0, 6], got 99"),
        (Scripted(body=chat_completion('{"plan": []}')), "plan: unknown field"),
        (Scripted(body=chat_completion(None, finish_reason="content_filter")), "content filter"),
        (
            Scripted(status=429, body={"error": {"message": "Rate limit reached"}}, headers={"retry-after": "20"}),
            "openai: rate limited (429): retry in 20 s",
        ),
        (Scripted(status=500, body={"error": {"message": "server had an error"}}), "openai: service error (500)"),
        (
            Scripted(status=400, body={"error": {"message": "Invalid schema"}}),
            "rejected the request (400): Invalid schema",
        ),
        (Scripted(body="{truncated"), "openai: malformed response"),
        (Scripted(body={"id": "x", "choices": []}), "choices: empty"),
    ],
)
def test_failures_fall_back_to_the_rules_and_say_why(fake: FakeAPI, answer: Scripted, reason: str) -> None:
    fake.script("chat", answer)
    chosen = choose_emotions(WORDS, EXPRESSIONS, TEXT, "openai", settings_for(fake), exclude=EXCLUDE)
    assert chosen.provider == "rules"
    assert chosen.fallback is not None and chosen.fallback.startswith("openai: ")
    assert reason in chosen.fallback, chosen.fallback
    assert chosen.to_json() == {"provider": "rules", "fallback": chosen.fallback}
    assert [k["expr"] for k in chosen.emotion][-1] == "neutral"


def test_a_slow_answer_times_out_and_falls_back(fake: FakeAPI) -> None:
    # The answer would come after 30 s; falling back well before it shows the timeout was honoured.
    fake.script("chat", Scripted(delay_s=30.0))
    started = time.monotonic()
    chosen = choose_emotions(WORDS, EXPRESSIONS, TEXT, "auto", settings_for(fake, openai_timeout_ms=200))
    assert time.monotonic() - started < 15
    assert chosen.provider == "rules" and chosen.fallback is not None
    assert chosen.fallback.startswith("openai: timed out after 0.2 s")


def test_retries_are_explicit_and_honour_retry_after(fake: FakeAPI) -> None:
    busy = Scripted(status=429, body={"error": {"message": "busy"}}, headers={"retry-after-ms": "10"})
    fake.script("chat", busy, plan((4, "happy_soft")))
    chosen = choose_emotions(WORDS, EXPRESSIONS, TEXT, "openai", settings_for(fake, openai_max_retries=1))
    assert chosen.provider == "openai" and len(fake.calls("/chat/completions")) == 2


def test_a_wrong_key_is_reported_not_raised(fake: FakeAPI) -> None:
    chosen = choose_emotions(WORDS, EXPRESSIONS, TEXT, "auto", settings_for(fake, openai_api_key="sk-wrong"))
    assert chosen.provider == "rules"
    assert chosen.fallback is not None and chosen.fallback.startswith(
        "openai: unauthorized (401): check OPENAI_API_KEY"
    )


def test_plan_emotions_openai_raises_provider_errors(fake: FakeAPI) -> None:
    fake.script("chat", Scripted(body=chat_completion("{}", finish_reason="length")))
    with pytest.raises(ProviderError) as caught:
        plan_emotions_openai(WORDS, ["neutral", "happy_big"], TEXT, settings_for(fake))
    assert caught.value.reason == "truncated" and caught.value.provider == "openai"


def test_auto_without_a_key_uses_the_rules_quietly_and_openai_without_a_key_is_an_error(fake: FakeAPI) -> None:
    no_key = settings_for(fake, openai_api_key=None)
    chosen = choose_emotions(WORDS, EXPRESSIONS, TEXT, "auto", no_key)
    assert chosen.to_json() == {"provider": "rules"}
    assert choose_emotions(WORDS, EXPRESSIONS, TEXT, "rules", settings_for(fake)).provider == "rules"
    with pytest.raises(SpeechInputError, match="provider: 'openai' needs OPENAI_API_KEY"):
        choose_emotions(WORDS, EXPRESSIONS, TEXT, "openai", no_key)
    with pytest.raises(SpeechInputError, match="provider: must be one of rules, openai, auto"):
        choose_emotions(WORDS, EXPRESSIONS, TEXT, "gpt", no_key)
    assert fake.requests == []


def test_say_plans_with_openai_when_configured(fake: FakeAPI) -> None:
    rig = make_rig()
    said = say(
        "Hello! I am so happy to see you.", rig.config.expressions, rig.config.visemes, settings=settings_for(fake)
    )
    assert said.plan.provider == "openai"
    # The fake puts the first non-neutral expression on the last word.
    assert said.emotion[0]["expr"] == "happy_soft" and said.emotion[0]["t_ms"] == said.speech.words[-1].t_ms
    fake.script("chat", Scripted(status=503, body={"error": {"message": "overloaded"}}))
    said = say("Hello!", rig.config.expressions, rig.config.visemes, settings=settings_for(fake))
    assert (
        said.plan.provider == "rules"
        and said.plan.fallback == "openai: service error (503), try again later: overloaded"
    )


def test_whisper_gives_word_timings_and_phonemes(fake: FakeAPI) -> None:
    alignment = whisper_alignment(b"RIFF-not-really", "take.wav", settings_for(fake))
    (call,) = fake.calls("/v1/audio/transcriptions")
    assert call.form["model"] == "whisper-1" and call.form["response_format"] == "verbose_json"
    assert call.form["timestamp_granularities[]"] == "word"
    assert call.form["file"] == ("take.wav", b"RIFF-not-really")
    assert alignment.provider == "whisper"
    assert [(w.text, w.t_ms, w.end_ms) for w in alignment.words] == [
        ("hello", 200, 520),
        ("there", 600, 920),
        ("world", 1000, 1320),
    ]
    assert alignment.duration_ms == 1700
    assert {p.word for p in alignment.phonemes} == {"hello", "there", "world"}
    assert alignment.warnings and "transcription" in alignment.warnings[0]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Scripted(body={"text": "hi", "duration": 1.0, "language": "en"}), "words: missing"),
        (
            Scripted(
                body={"text": "hi", "duration": 1.0, "language": "en", "words": [{"word": "hi", "start": -2, "end": 1}]}
            ),
            "words[0].start",
        ),
        (Scripted(status=500, body={"error": {"message": "oops"}}), "service error (500)"),
        (Scripted(status=429, body={"error": {"message": "slow down"}}), "rate limited (429): retry in a little while"),
    ],
)
def test_whisper_failures_are_clear_errors(fake: FakeAPI, answer: Scripted, message: str) -> None:
    fake.script("transcribe", answer)
    with pytest.raises(ProviderError) as caught:
        whisper_alignment(b"x", "a.wav", settings_for(fake))
    assert str(caught.value).startswith("openai: ") and message in str(caught.value), str(caught.value)


def test_whisper_without_a_key(fake: FakeAPI) -> None:
    with pytest.raises(ProviderUnavailable, match="OPENAI_API_KEY"):
        whisper_alignment(b"x", "a.wav", settings_for(fake, openai_api_key=None))


def test_post_emotions_with_openai_and_its_fallback(make_server: MakeServer, fake: FakeAPI) -> None:
    server = server_for(make_server, fake, openai_timeout_ms=300)
    words = [{"t_ms": w.t_ms, "end_ms": w.end_ms, "text": w.text} for w in WORDS]
    with server.client(timeout=20) as c:
        fake.script("chat", plan((0, "happy_soft"), (6, "concerned")))
        r = c.post("/emotions", json={"words": words, "text": TEXT, "provider": "openai"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["provider"] == "openai" and "fallback" not in body
        assert [k["expr"] for k in body["emotion"]] == ["happy_soft", "concerned", "neutral"]
        enum = fake.calls("/chat/completions")[0].json["response_format"]["json_schema"]["schema"]
        names = enum["properties"]["changes"]["items"]["properties"]["expression"]["enum"]
        assert names[0] == "neutral" and "speaking_ah" not in names and "blink_closed" not in names
        for answer, reason in [
            (Scripted(body=chat_completion(None, refusal="no")), "openai: the model refused: no"),
            (Scripted(delay_s=1.0), "openai: timed out after 0.3 s"),
            (Scripted(status=429, body={"error": {"message": "busy"}}), "openai: rate limited (429)"),
            (plan((1, "angry_robot")), "'angry_robot' is not one of the rig's expressions"),
        ]:
            fake.script("chat", answer)
            r = c.post("/emotions", json={"words": words, "text": TEXT})  # auto: OpenAI, as the key is set
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["provider"] == "rules" and reason in body["fallback"], body
            assert body["emotion"][-1]["expr"] == "neutral"
        r = c.post("/emotions", json={"words": words, "provider": "rules"})
        assert r.json()["provider"] == "rules" and "fallback" not in r.json()
        r = c.post("/emotions", json={"words": words, "provider": "magic"})
        assert r.status_code == 400 and r.json()["error"].startswith("provider: must be one of")


def test_post_speech_reports_who_planned_the_face(make_server: MakeServer, fake: FakeAPI) -> None:
    with server_for(make_server, fake).client(timeout=20) as c:
        r = c.post("/speech", json={"text": "Hello! I am so happy to see you."})
        assert r.status_code == 201, r.text
        assert r.json()["emotions"] == {"provider": "openai"}
        fake.script("chat", Scripted(body=chat_completion("{}", finish_reason="length")))
        r = c.post("/speech", json={"text": "Hello! I am so happy to see you."})
        assert r.status_code == 201, r.text
        assert r.json()["emotions"]["provider"] == "rules"
        assert "cut off" in r.json()["emotions"]["fallback"]
        r = c.post("/speech", json={"text": "Hi.", "emotions": "rules"})
        assert r.json()["emotions"] == {"provider": "rules"}
        assert len(fake.calls("/chat/completions")) == 2
