"""Timelines over REST: CRUD, validation messages, atomic storage, schedules, seeded examples."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.core.resolve import resolve
from streamer.core.rig import Rig
from streamer.core.timeline import parse_timeline
from tests.server.conftest import REPO, LiveServer, MakeServer


def doc(expr: str = "happy_soft", duration_ms: int = 2000) -> dict[str, Any]:
    return {
        "version": 1,
        "start": {"expr": "neutral", "pose": "center"},
        "tracks": {"emotion": [{"t_ms": 200, "expr": expr, "transition_ms": 300}]},
        "idle": {"blink": False, "seed": 1},
        "duration_ms": duration_ms,
    }


FACE_RIG = {
    "keyframes": [
        {"time_ms": 0, "target_expr": "neutral", "target_pose": "center", "transition_duration_ms": 0},
        {"time_ms": 500, "target_expr": "happy_soft", "transition_duration_ms": 400},
    ]
}


def stored_files(server: LiveServer) -> list[str]:
    return sorted(p.name for p in (server.settings.data_dir / "timelines").iterdir())


def test_create_get_list_put_delete(client: httpx.Client) -> None:
    r = client.post("/timelines", json=doc())
    assert r.status_code == 201
    timeline_id = r.json()["id"]
    assert r.headers["location"] == f"/timelines/{timeline_id}"
    assert client.get(f"/timelines/{timeline_id}").json() == doc()

    listed = {t["id"]: t for t in client.get("/timelines").json()}
    assert listed[timeline_id]["duration_ms"] == 2000
    assert listed[timeline_id]["updated"].endswith("Z")

    r = client.put(f"/timelines/{timeline_id}", json=doc(duration_ms=3000))
    assert r.status_code == 200
    assert r.json() == {"id": timeline_id, "name": timeline_id, "duration_ms": 3000, "created": False}
    assert client.get(f"/timelines/{timeline_id}").json()["duration_ms"] == 3000

    assert client.delete(f"/timelines/{timeline_id}").status_code == 204
    assert client.get(f"/timelines/{timeline_id}").status_code == 404
    assert client.delete(f"/timelines/{timeline_id}").status_code == 404


def test_create_with_a_chosen_id_and_conflict(client: httpx.Client) -> None:
    assert client.post("/timelines?id=intro", json=doc()).json() == {"id": "intro", "name": "intro"}
    r = client.post("/timelines?id=intro", json=doc())
    assert r.status_code == 409
    assert "PUT /timelines/intro replaces it" in r.json()["error"]


def test_put_creates_under_the_given_id(client: httpx.Client) -> None:
    r = client.put("/timelines/outro", json=doc())
    assert (r.status_code, r.json()["created"]) == (200, True)
    assert client.get("/timelines/outro").status_code == 200
    assert client.put("/timelines/outro", json=doc()).json()["created"] is False


def test_a_stale_if_match_is_412_and_changes_nothing(client: httpx.Client) -> None:
    client.put("/timelines/shared", json=doc())
    read = client.get("/timelines/shared")
    etag = read.headers["etag"]
    first = client.put("/timelines/shared", json=doc(duration_ms=2500), headers={"If-Match": etag})
    assert first.status_code == 200 and first.headers["etag"] != etag
    assert first.headers["etag"] == client.get("/timelines/shared").headers["etag"]

    second = client.put("/timelines/shared", json=doc(duration_ms=9000), headers={"If-Match": etag})
    assert second.status_code == 412
    assert "changed since it was read" in second.json()["error"]
    assert client.get("/timelines/shared").json()["duration_ms"] == 2500

    again = client.put("/timelines/shared", json=doc(duration_ms=9000), headers={"If-Match": first.headers["etag"]})
    assert again.status_code == 200
    assert client.put("/timelines/shared", json=doc(), headers={"If-Match": "*"}).status_code == 200
    assert client.put("/timelines/never-stored", json=doc(), headers={"If-Match": "*"}).status_code == 412
    assert client.get("/timelines/never-stored").status_code == 404


def test_a_draft_resolves_to_the_stored_schedule_with_its_blinks(client: httpx.Client) -> None:
    draft = {
        "version": 1,
        "tracks": {"emotion": [{"t_ms": 300, "expr": "happy_soft"}], "blink": [{"t_ms": 1200}]},
        "idle": {"blink": True, "seed": 3},
        "duration_ms": 9000,
    }
    drafted = client.post("/timelines/schedule", json=draft, params={"fps": "24"}).json()
    client.put("/timelines/drafted", json=draft)
    stored = client.get("/timelines/drafted/schedule", params={"fps": "24"}).json()
    assert drafted["changes"] == stored["changes"] and drafted["frames"] == stored["frames"]
    assert drafted["timeline_duration_ms"] == 9000
    starts = [t for t, _ in drafted["blinks"]]
    assert 1200 in starts and len(starts) > 1 and starts == sorted(starts)  # the explicit one and idle ones


def test_director_redirects_to_the_page_with_its_query(client: httpx.Client) -> None:
    r = client.get("/director?timeline=hello", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (307, "/client/director.html?timeline=hello")


def test_post_makes_a_readable_id_from_the_name(client: httpx.Client) -> None:
    r = client.post("/timelines", params={"name": "Good morning, chat!"}, json=doc())
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "Good morning, chat!"
    assert body["id"].startswith("good-morning-chat-") and len(body["id"]) == len("good-morning-chat-") + 4
    named = dict(doc(), name="From the document")
    r = client.post("/timelines", json=named)
    assert r.json()["name"] == "From the document" and r.json()["id"].startswith("from-the-document-")
    assert client.get(f"/timelines/{r.json()['id']}").json() == named  # stored as sent


def test_a_replacement_keeps_its_name_unless_given_one(client: httpx.Client) -> None:
    client.put("/timelines/intro", params={"name": "Intro take 1"}, json=doc())
    assert client.put("/timelines/intro", json=doc(duration_ms=2500)).json()["name"] == "Intro take 1"
    assert client.put("/timelines/intro", params={"name": "Take 2"}, json=doc()).json()["name"] == "Take 2"
    listed = {t["id"]: t["name"] for t in client.get("/timelines").json()}
    assert listed["intro"] == "Take 2"


@pytest.mark.parametrize("name", ["", "   ", "a" * 121, "bell\x07"])
def test_bad_names_are_400_and_store_nothing(client: httpx.Client, server: LiveServer, name: str) -> None:
    before = stored_files(server)
    r = client.post("/timelines", params={"name": name}, json=doc())
    assert r.status_code == 400
    assert r.json()["error"].startswith("name: ")
    assert stored_files(server) == before


def test_list_is_newest_first_with_names(client: httpx.Client, server: LiveServer) -> None:
    first = client.post("/timelines", params={"name": "first"}, json=doc()).json()["id"]
    second = client.post("/timelines", params={"name": "second"}, json=doc()).json()["id"]
    # File times can tie within a tick: date them apart explicitly.
    folder = server.settings.data_dir / "timelines"
    now = time.time()
    os.utime(folder / f"{first}.json", (now + 100, now + 100))
    os.utime(folder / f"{second}.json", (now + 200, now + 200))
    listed = client.get("/timelines").json()
    assert [t["id"] for t in listed[:2]] == [second, first]
    assert [t["name"] for t in listed[:2]] == ["second", "first"]
    by_id = {t["id"]: t for t in listed}
    assert by_id["hello"]["name"] == "hello.json"  # seeded examples are named by their file


def test_delete_removes_the_name_too(client: httpx.Client, server: LiveServer) -> None:
    client.put("/timelines/gone", params={"name": "Gone"}, json=doc())
    assert client.delete("/timelines/gone").status_code == 204
    assert not [n for n in stored_files(server) if n.startswith("gone")]
    client.put("/timelines/gone", json=doc())
    assert {t["id"]: t["name"] for t in client.get("/timelines").json()}["gone"] == "gone"


def test_invalid_timeline_is_422_naming_the_field(client: httpx.Client) -> None:
    bad = doc()
    bad["tracks"]["emotion"][0]["t_ms"] = "soon"
    r = client.post("/timelines", json=bad)
    assert r.status_code == 422
    assert "tracks.emotion[0].t_ms" in r.json()["error"]


def test_unknown_expression_is_422_with_a_suggestion(client: httpx.Client) -> None:
    r = client.put("/timelines/typo", json=doc(expr="happy_sofft"))
    assert r.status_code == 422
    error = r.json()["error"]
    assert "tracks.emotion[0]" in error and "happy_sofft" in error and "happy_soft" in error


def test_missing_audio_is_422(client: httpx.Client) -> None:
    with_audio = dict(doc(), audio={"id": "nothere.wav", "offset_ms": 0})
    r = client.put("/timelines/speech", json=with_audio)
    assert r.status_code == 422
    assert "audio.id" in r.json()["error"]


def test_bad_json_and_empty_body_are_422(client: httpx.Client) -> None:
    r = client.post("/timelines", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "invalid JSON" in r.json()["error"]
    r = client.post("/timelines", content=b"")
    assert r.status_code == 422
    assert "empty" in r.json()["error"]


def test_bad_timeline_id_is_400(client: httpx.Client) -> None:
    for bad in ("Upper", "-dash", "a" * 65):
        r = client.put(f"/timelines/{bad}", json=doc())
        assert r.status_code == 400, bad
        assert "timeline id" in r.json()["error"]
    assert client.post("/timelines?id=../x", json=doc()).status_code == 400


def test_face_rig_keyframe_list_is_accepted_and_returned_as_sent(client: httpx.Client) -> None:
    r = client.put("/timelines/legacy", json=FACE_RIG)
    assert r.status_code == 200
    assert client.get("/timelines/legacy").json() == FACE_RIG
    bare = client.put("/timelines/legacy-bare", json=FACE_RIG["keyframes"])
    assert bare.status_code == 200
    schedule = client.get("/timelines/legacy/schedule").json()
    assert schedule["changes"][0][0] == 0


def test_validate_endpoint(client: httpx.Client) -> None:
    ok = client.post("/timelines/validate", json=FACE_RIG)
    assert ok.status_code == 200
    assert ok.json()["source"] == "face_rig"
    bad = client.post("/timelines/validate", json={"version": 2})
    assert bad.status_code == 422
    assert "version" in bad.json()["error"]


def test_writes_are_atomic_and_a_failed_validation_leaves_the_file_unchanged(
    client: httpx.Client, server: LiveServer
) -> None:
    assert client.put("/timelines/keep", json=doc()).status_code == 200
    path = server.settings.data_dir / "timelines" / "keep.json"
    before = path.read_bytes()
    bad = doc()
    bad["tracks"]["emotion"][0]["expr"] = "nope"
    assert client.put("/timelines/keep", json=bad).status_code == 422
    assert path.read_bytes() == before
    for i in range(5):
        assert client.put("/timelines/keep", json=doc(duration_ms=1000 + i)).status_code == 200
    assert json.loads(path.read_bytes())["duration_ms"] == 1004
    assert not [name for name in stored_files(server) if name.startswith(".")]


def test_json_body_over_the_cap_is_413(server: LiveServer) -> None:
    body = b'{"version": 1, "meta": {"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}}'
    status, _, response = server.raw(
        b"PUT /timelines/big HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    )
    assert status == 413
    assert b"limit" in response
    assert "big.json" not in stored_files(server)


def test_schedule_at_24_fps_matches_the_core(client: httpx.Client, rig: Rig) -> None:
    client.put("/timelines/sched", json=doc())
    r = client.get("/timelines/sched/schedule?fps=24")
    assert r.status_code == 200
    body = r.json()
    expected = resolve(parse_timeline(doc()), rig).to_json(24)
    assert body["id"] == "sched"
    assert body["fps"] == "24"
    assert body["changes"] == expected["changes"]
    assert body["frames"] == expected["frames"]
    assert len(body["frames"]) == 48  # 2000 ms at 24 fps


@pytest.mark.parametrize("fps", ["0", "-1", "abc", "1000"])
def test_bad_fps_is_422(client: httpx.Client, fps: str) -> None:
    client.put("/timelines/sched", json=doc())
    r = client.get(f"/timelines/sched/schedule?fps={fps}")
    assert r.status_code == 422
    assert "fps" in r.json()["error"]


def test_schedule_of_a_missing_timeline_is_404(client: httpx.Client) -> None:
    r = client.get("/timelines/ghost/schedule?fps=24")
    assert r.status_code == 404
    assert "ghost" in r.json()["error"]


@pytest.mark.skipif(not (REPO / "examples" / "hello.json").is_file(), reason="no examples/hello.json")
def test_examples_are_seeded_with_their_audio(client: httpx.Client) -> None:
    ids = {t["id"] for t in client.get("/timelines").json()}
    assert "hello" in ids
    hello = client.get("/timelines/hello").json()
    audio_id = hello["audio"]["id"]
    audio = client.get(f"/audio/{audio_id}")
    assert audio.status_code == 200
    assert audio.headers["content-type"].startswith("audio/")
    assert client.get("/timelines/hello/schedule?fps=30").status_code == 200


def test_seeding_keeps_user_edits(make_server: MakeServer, tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "demo.json").write_text(json.dumps(doc()))
    (examples / "broken.json").write_text('{"version": 1, "tracks": {"emotion": [{"expr": "x"}]}}')
    data = tmp_path / "data"
    first = make_server(examples_dir=examples, data_dir=data)
    with first.client() as c:
        assert {t["id"] for t in c.get("/timelines").json()} == {"demo"}
        c.put("/timelines/demo", json=doc(duration_ms=999))
    second = make_server(examples_dir=examples, data_dir=data)
    with second.client() as c:
        assert c.get("/timelines/demo").json()["duration_ms"] == 999


def test_a_binary_body_is_422_not_a_server_error(client: httpx.Client) -> None:
    r = client.post("/timelines", content=b"OggS\x00\x02\xa4\xff\xfe", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"].startswith("invalid JSON: not UTF-8 text")


def test_a_method_a_path_does_not_take_says_which_it_does(client: httpx.Client) -> None:
    r = client.put("/timelines", params={"id": "x"}, json=doc())
    assert r.status_code == 405
    assert r.json()["error"] == "method PUT is not allowed on /timelines (allowed: GET, HEAD, POST; see /openapi.json)"
    assert r.headers["allow"] == "GET, HEAD, POST"
