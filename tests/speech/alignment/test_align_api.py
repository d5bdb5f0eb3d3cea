"""POST /align on a real server: a stored recording and timeline, the loudness mouth, the token, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.conftest import MakeServer, wav_bytes
from tests.speech.align_fixtures import PHRASES, Recording, make_recording

TOKEN = "s3cret-token-for-align"


@pytest.fixture(scope="module")
def recording() -> Recording:
    return make_recording(PHRASES[13:15], voice="en-us+klatt2", rate_wpm=150, sample_rate=16_000, seed=9)


def test_align_stores_the_recording_and_a_timeline_that_plays(make_server: MakeServer, recording: Recording) -> None:
    with make_server().client() as c:
        r = c.post(
            "/align",
            files={"audio": ("take.wav", recording.wav_bytes(), "audio/wav")},
            data={"transcript": recording.transcript},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert set(body) == {
            "timeline_id", "audio_id", "duration_ms", "timeline", "words", "unplaced", "confidence", "provider",
            "warnings",
        }  # fmt: skip
        assert body["provider"] == "offline" and body["confidence"] > 0.7
        assert r.headers["location"] == f"/timelines/{body['timeline_id']}"
        timeline = body["timeline"]
        assert timeline["audio"]["id"] == body["audio_id"] and body["audio_id"].endswith(".wav")
        assert body["duration_ms"] == timeline["duration_ms"] > recording.duration_ms
        assert len(body["words"]) + len(body["unplaced"]) == len(recording.words)
        first = body["words"][0]
        assert first["text"] == "Good" and abs(first["t_ms"] - recording.words[0].t_ms) < 60
        assert 0 <= first["confidence"] <= 1
        assert [w["text"] for w in timeline["tracks"]["words"]] == [w["text"] for w in body["words"]]
        assert timeline["tracks"]["speech"]
        assert c.get(f"/timelines/{body['timeline_id']}").json() == timeline
        assert c.get(f"/audio/{body['audio_id']}").content == recording.wav_bytes()
        played = c.post("/channels/main/play", json={"timeline_id": body["timeline_id"]})
        assert played.status_code == 200, played.text


def test_without_a_transcript_the_mouth_follows_the_loudness(make_server: MakeServer, recording: Recording) -> None:
    with make_server().client() as c:
        r = c.post("/align", files={"audio": ("take.wav", recording.wav_bytes(), "audio/wav")})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["provider"] == "loudness" and body["words"] == [] and body["confidence"] == 0
    assert body["timeline"]["tracks"]["speech"] and body["warnings"]


def test_a_transcript_sent_as_a_file_part_works_too(make_server: MakeServer, recording: Recording) -> None:
    with make_server().client() as c:
        r = c.post(
            "/align",
            files={
                "audio": ("take.wav", recording.wav_bytes(), "audio/wav"),
                "transcript": ("words.txt", recording.transcript.encode(), "text/plain"),
            },
        )
    assert r.status_code == 201, r.text
    assert r.json()["provider"] == "offline"


def test_a_wrong_transcript_answers_with_unplaced_words_and_warnings(
    make_server: MakeServer, recording: Recording
) -> None:
    with make_server().client() as c:
        r = c.post(
            "/align",
            files={"audio": ("take.wav", recording.wav_bytes(), "audio/wav")},
            data={"transcript": " ".join(PHRASES[:3])},
        )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["unplaced"] and body["confidence"] < 0.6 and body["warnings"]


def test_align_needs_the_token_when_one_is_set(make_server: MakeServer) -> None:
    files = {"audio": ("tone.wav", wav_bytes(1500), "audio/wav")}
    with make_server(token=TOKEN).client() as c:
        assert c.post("/align", files=files).status_code == 401
        r = c.post("/align", files=files, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("files", "data", "field", "status"),
    [
        ({"transcript": ("t.txt", b"hello", "text/plain")}, {}, "audio", 400),
        ({"other": ("x.txt", b"x", "text/plain")}, {}, "other", 422),
        ({"audio": ("a.wav", b"not audio at all", "audio/wav")}, {}, "audio", 422),
        ({"audio": ("a.wav", b"", "audio/wav")}, {}, "audio", 422),
        ({"audio": ("a.wav", wav_bytes(500), "audio/wav")}, {"transcript": "   "}, "transcript", 400),
        ({"audio": ("a.wav", wav_bytes(500), "audio/wav")}, {"transcript": "x" * 20_001}, "transcript", 400),
        ({"audio": ("a.wav", wav_bytes(500), "audio/wav")}, {"transcript": "hi", "voice": "zz-nope"}, "voice", 400),
        ({"audio": ("a.wav", wav_bytes(500), "audio/wav")}, {"colour": "red"}, "colour", 422),
    ],
)
def test_bad_align_requests_are_4xx_naming_the_field(
    make_server: MakeServer, files: dict[str, Any], data: dict[str, str], field: str, status: int
) -> None:
    with make_server().client() as c:
        r = c.post("/align", files=files, data=data)
    assert r.status_code == status, r.text
    assert r.json()["error"].startswith(f"{field}:"), r.json()


def test_json_and_oversized_uploads_are_refused(make_server: MakeServer) -> None:
    with make_server(max_upload_mb=1).client() as c:
        r = c.post("/align", json={"transcript": "hi"})
        assert r.status_code == 400 and r.json()["error"].startswith("audio:")
        big = wav_bytes(40_000, rate=16_000)  # 1.3 MB
        r = c.post("/align", files={"audio": ("big.wav", big, "audio/wav")})
        assert r.status_code == 413, r.text


def test_recordings_over_the_length_cap_are_refused(make_server: MakeServer) -> None:
    with make_server(max_audio_s=1).client() as c:
        r = c.post("/align", files={"audio": ("long.wav", wav_bytes(2500), "audio/wav")})
    assert r.status_code == 422 and r.json()["error"].startswith("audio:"), r.text
    assert "limit" in r.json()["error"]
