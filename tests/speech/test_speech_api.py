"""POST /speech and POST /emotions on a real server: stored audio and timeline, token, bad input, missing keys."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.conftest import MakeServer, wav_bytes

TOKEN = "s3cret-token-for-tests"


def test_speech_stores_audio_and_a_timeline_that_plays(make_server: MakeServer) -> None:
    server = make_server()
    with server.client() as c:
        r = c.post("/speech", json={"text": "Hello! I am so happy to see you.", "rate_wpm": 180})
        assert r.status_code == 201, r.text
        body = r.json()
        timeline_id, audio_id, timeline = body["timeline_id"], body["audio_id"], body["timeline"]
        assert r.headers["location"] == f"/timelines/{timeline_id}"
        assert audio_id.endswith(".opus") and timeline["audio"]["id"] == audio_id
        assert body["duration_ms"] == timeline["duration_ms"]
        assert "happy_big" in [k["expr"] for k in timeline["tracks"]["emotion"]]
        assert c.get(f"/timelines/{timeline_id}").json() == timeline
        audio = c.get(f"/audio/{audio_id}")
        assert audio.status_code == 200 and audio.content[:4] == b"OggS"
        assert audio.headers["content-type"].startswith("audio/ogg")
        played = c.post("/channels/main/play", json={"timeline_id": timeline_id})
        assert played.status_code == 200, played.text
        assert played.json()["timeline_id"] == timeline_id


def test_speech_lipsync_per_word_holds_one_shape_per_word(make_server: MakeServer) -> None:
    server = make_server()
    line = {"text": "Hello! I am so happy to see you."}
    with server.client() as c:
        per_sound = c.post("/speech", json=line).json()["timeline"]["tracks"]["speech"]
        per_word = c.post("/speech", json={**line, "lipsync": "word"}).json()["timeline"]["tracks"]["speech"]
        bad = c.post("/speech", json={**line, "lipsync": "syllable"})
    assert len(per_word) < len(per_sound)
    vowel_shapes = [cue for cue in per_word if cue["viseme"] != "neutral"]
    words = [cue["word"] for cue in vowel_shapes]
    assert len(words) == len(set(words))  # one mouth shape per word
    assert bad.status_code == 400 and bad.json()["error"].startswith("lipsync:")


def test_speech_and_emotions_need_the_token_when_one_is_set(make_server: MakeServer) -> None:
    server = make_server(token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    words = {"words": [{"t_ms": 0, "end_ms": 300, "text": "hi"}]}
    with server.client() as c:
        assert c.post("/speech", json={"text": "hi"}).status_code == 401
        r = c.post("/speech", json={"text": "hi"}, headers=auth)
        assert r.status_code == 201, r.text
        assert c.post("/emotions", json=words).status_code == 401  # it may spend the operator's OpenAI key
        assert c.post("/emotions", json=words, headers=auth).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": 5}, "text"),
        ({"text": "x" * 1001}, "text"),
        ({"text": "hi", "voice": "zz-nope"}, "voice"),
        ({"text": "hi", "voice": 3}, "voice"),
        ({"text": "hi", "rate_wpm": "fast"}, "rate_wpm"),
        ({"text": "hi", "rate_wpm": 9999}, "rate_wpm"),
        ({"text": "hi", "provider": "elevenlabs"}, "provider"),
        ({"text": "hi", "colour": "red"}, "colour"),
        ([1, 2], "request body"),
    ],
)
def test_bad_speech_requests_are_4xx_naming_the_field(make_server: MakeServer, body: Any, field: str) -> None:
    server = make_server()
    with server.client() as c:
        r = c.post("/speech", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"].startswith(f"{field}:"), r.json()


@pytest.mark.parametrize(
    ("path", "request_args", "provider", "key"),
    [
        ("/speech", {"json": {"text": "Hi", "provider": "elevenlabs"}}, "elevenlabs", "ELEVENLABS_API_KEY"),
        (
            "/emotions",
            {"json": {"words": [{"t_ms": 0, "end_ms": 100, "text": "hi"}], "provider": "openai"}},
            "openai",
            "OPENAI_API_KEY",
        ),
        (
            "/align",
            {"files": {"audio": ("take.wav", wav_bytes(500))}, "data": {"transcript": "hi", "provider": "elevenlabs"}},
            "elevenlabs",
            "ELEVENLABS_API_KEY",
        ),
        (
            "/align",
            {"files": {"audio": ("take.wav", wav_bytes(500))}, "data": {"provider": "whisper"}},
            "whisper",
            "OPENAI_API_KEY",
        ),
    ],
    ids=["speech", "emotions", "align-elevenlabs", "align-whisper"],
)
def test_a_provider_without_its_key_is_a_400_naming_the_key(
    make_server: MakeServer, path: str, request_args: dict[str, Any], provider: str, key: str
) -> None:
    with make_server().client() as c:
        r = c.post(path, **request_args)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == f"provider: '{provider}' needs {key}, which is not set"


def test_emotions_plans_a_track_for_timed_words(make_server: MakeServer) -> None:
    words = [
        {"t_ms": 0, "end_ms": 300, "text": "I"},
        {"t_ms": 350, "end_ms": 600, "text": "am"},
        {"t_ms": 650, "end_ms": 1000, "text": "worried"},
    ]
    with make_server().client() as c:
        r = c.post("/emotions", json={"words": words, "text": "I am worried."})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["emotion"] == [
            {"t_ms": 650, "expr": "concerned", "transition_ms": 450},
            {"t_ms": 1350, "expr": "neutral", "transition_ms": 500},
        ]
        assert body["sentences"][0]["emotion"] == "fear" and body["provider"] == "rules"
        for bad, field in [
            ({}, "words"),
            ({"words": "x"}, "words"),
            ({"words": [{"t_ms": -1, "end_ms": 5, "text": "a"}]}, "words[0].t_ms"),
            ({"words": [{"t_ms": 0, "end_ms": 5}]}, "words[0].text"),
            ({"words": [words[1], words[0]]}, "words[1].t_ms"),
            ({"words": words, "text": 4}, "text"),
            ({"words": words, "extra": 1}, "extra"),
        ]:
            r = c.post("/emotions", json=bad)
            assert 400 <= r.status_code < 500, (bad, r.text)
            assert r.json()["error"].startswith(f"{field}:"), (bad, r.json())


def test_speech_work_has_its_own_bounded_threads() -> None:
    import asyncio
    import threading

    from streamer.server.speech import SpeechBusy, SpeechWorkers

    release = threading.Event()

    async def scenario() -> tuple[list[str], str]:
        workers = SpeechWorkers(workers=1, max_queued=1)
        try:
            def blocked() -> str:
                release.wait(5)
                return threading.current_thread().name

            first = asyncio.ensure_future(workers.run(blocked))
            queued = asyncio.ensure_future(workers.run(lambda: threading.current_thread().name))
            await asyncio.sleep(0.05)
            with pytest.raises(SpeechBusy) as caught:
                await workers.run(lambda: "never")
            release.set()
            return [await first, await queued], str(caught.value)
        finally:
            workers.close()

    names, message = asyncio.run(scenario())
    assert all(name.startswith("speech") for name in names)  # not the loop's shared executor
    assert "too many speech requests" in message
