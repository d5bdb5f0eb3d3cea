"""Several rigs on one server (STREAMER_RIGS_DIR): listing, frames kept apart, a channel switching rigs live."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image
from websockets.asyncio.client import connect

from streamer.rigset import find_rigs
from tests.export.conftest import wait_for
from tests.server.conftest import LiveServer, MakeServer, write_png_rig
from tests.server.test_live import FrameQueue, command, recv, ws_url

TINY = (16, 24)
TINY_NEUTRAL = "endpoints/neutral__center.png"


@pytest.fixture(scope="module")
def rigs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny`` (a valid rig, 16x24), plus folders that must be skipped."""
    root = tmp_path_factory.mktemp("rigs")
    write_png_rig(root / "tiny", TINY)
    (root / "broken").mkdir()
    (root / "broken" / "rig.json").write_text('{"axes": {}}')  # no expressions, no frames
    (root / "no config").mkdir()  # a space: not a usable rig id
    write_png_rig(root / "default", TINY)  # the default rig's id is taken
    (root / "notes.txt").write_text("not a folder")
    return root


@pytest.fixture
def server(make_server: MakeServer, rigs_dir: Path) -> LiveServer:
    return make_server(rigs_dir=str(rigs_dir))


def tiny_png(rigs_dir: Path, key: str = TINY_NEUTRAL) -> bytes:
    return (rigs_dir / "tiny" / key).read_bytes()


def test_invalid_rig_folders_are_skipped_with_a_log_line(rigs_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="streamer.rigset"):
        found = find_rigs(rigs_dir)
    assert list(found) == ["tiny"]
    lines = [r.getMessage() for r in caplog.records]
    assert any("broken" in line and "not a valid rig" in line and "rig check" in line for line in lines), lines
    assert any("no config" in line and "name" in line for line in lines), lines
    assert any(str(rigs_dir / "default") in line and "default rig" in line for line in lines), lines


def test_get_rigs_lists_the_default_rig_and_each_valid_folder(server: LiveServer) -> None:
    default_rig = server.app.state.server.rig
    with server.client() as c:
        body = c.get("/rigs").json()
        assert body["default"] == "default"
        assert [r["id"] for r in body["rigs"]] == ["default", "tiny"]
        first, tiny = body["rigs"]
        assert first["default"] is True and first["name"] == default_rig.config.name
        assert first["expressions"] == list(default_rig.expressions) and first["frame_base_url"] == "/frames/"
        assert tiny == {
            "id": "tiny",
            "name": "test-rig",
            "default": False,
            "size": list(TINY),
            "expressions": list(server.app.state.server.rigs["tiny"].rig.expressions),
            "poses": ["center", "tilt_left_small", "tilt_right_small", "nod_down_small", "nod_up_small"],
            "frames": len(server.app.state.server.rigs["tiny"].rig.file_sizes),
            "frame_base_url": "/frames/rigs/tiny/",
        }
        assert len(tiny["expressions"]) != len(first["expressions"])
        one = c.get("/rigs/tiny").json()
        assert one["id"] == "tiny" and one["size"] == list(TINY) and one["sequences"]
        missing = c.get("/rigs/broken")
        assert missing.status_code == 404 and "no rig 'broken'" in missing.json()["error"]


def test_without_a_rigs_folder_only_the_default_rig_is_offered(make_server: MakeServer) -> None:
    server = make_server()
    with server.client() as c:
        assert [r["id"] for r in c.get("/rigs").json()["rigs"]] == ["default"]
        assert c.get("/frames/rigs/tiny/" + TINY_NEUTRAL).status_code == 404


def test_frame_urls_of_two_rigs_never_collide(server: LiveServer, rigs_dir: Path) -> None:
    with server.client() as c:
        default = c.get("/frames/" + TINY_NEUTRAL)
        tiny = c.get("/frames/rigs/tiny/" + TINY_NEUTRAL)
        assert default.status_code == tiny.status_code == 200
        assert tiny.content == tiny_png(rigs_dir)
        assert Image.open(io.BytesIO(tiny.content)).size == TINY
        assert Image.open(io.BytesIO(default.content)).size != TINY
        assert default.headers["etag"] != tiny.headers["etag"]
        # Served from the one cache, each under its own key.
        cache = server.app.state.server.store
        assert TINY_NEUTRAL in cache and "rigs/tiny/" + TINY_NEUTRAL in cache
        for bad in ("rigs/nope/" + TINY_NEUTRAL, "rigs/broken/" + TINY_NEUTRAL, "rigs/tiny", "rigs/tiny/rig.json"):
            assert c.get("/frames/" + bad).status_code == 404, bad


async def test_a_controller_switches_the_channel_rig_and_every_viewer_follows(
    server: LiveServer, rigs_dir: Path
) -> None:
    url = ws_url(server, "stage")
    async with connect(url + "&role=controller") as ctl, connect(url) as viewer:
        hello = await recv(ctl, "hello")
        assert hello["rig"]["id"] == "default" and hello["frame_base_url"] == "/frames/"
        await recv(viewer, "hello")
        # Head somewhere both rigs have, so the switch keeps it.
        ack = await command(ctl, type="set", id=1, expr="happy_soft", pose="tilt_left_small")
        assert ack["type"] == "ack", ack
        queue = FrameQueue(server)
        ack = await command(ctl, type="set", id=2, rig="tiny")
        assert ack["type"] == "ack", ack
        assert ack["result"]["rig"] == "tiny"
        assert (ack["result"]["expr"], ack["result"]["pose"]) == ("happy_soft", "tilt_left_small")
        rig_message = await recv(viewer, "rig")
        assert rig_message["rig"]["id"] == "tiny" and rig_message["rig"]["name"] == "test-rig"
        assert rig_message["frame_size"] == list(TINY) and rig_message["frame_base_url"] == "/frames/rigs/tiny/"
        assert rig_message["rig"]["expressions"] == list(server.app.state.server.rigs["tiny"].rig.expressions)
        frames = await recv(viewer, "frames")
        queue.apply(frames)
        assert frames["from_ms"] == rig_message["t_ms"]
        assert frames["frames"][0] == [
            rig_message["t_ms"],
            "/frames/rigs/tiny/endpoints/happy_soft__tilt_left_small.png",
        ]
        assert all(u.startswith("/frames/rigs/tiny/") for _, u in frames["frames"])
        state = await recv(viewer, "state")
        assert state["rig"] == "tiny" and state["expr"] == "happy_soft"
        await queue.follow(viewer, 0.6)  # the ticks that follow come from the new rig too
        later = [u for t, u in queue.frames if t >= rig_message["t_ms"]]
        assert later and all(u.startswith("/frames/rigs/tiny/") for u in later)
        # The server warmed its cache with the new rig's frames, under the rig's keys.
        cache = server.app.state.server.store
        first_key = "rigs/tiny/endpoints/happy_soft__tilt_left_small.png"
        for _ in range(100):
            if first_key in cache:
                break
            await asyncio.sleep(0.02)
        assert first_key in cache and cache.counters.prefetches > 0
        # The frame viewers were told to show is the tiny rig's file.
        with server.client() as c:
            shown = c.get(frames["frames"][0][1])
            assert shown.content == tiny_png(rigs_dir, "endpoints/happy_soft__tilt_left_small.png")
            described = c.get("/channels/stage").json()
            assert described["rig"] == "tiny" and described["state"]["expr"] == "happy_soft"
        # Commands now name the tiny rig's expressions; a late viewer joins on the tiny rig.
        assert (await command(ctl, type="set", id=3, expr="oh_round"))["type"] == "ack"
        async with connect(url) as late:
            hello = await recv(late, "hello")
            assert hello["rig"]["id"] == "tiny" and hello["frame_size"] == list(TINY)
            first = await recv(late, "frames")
            assert first["frames"] and all(u.startswith("/frames/rigs/tiny/") for _, u in first["frames"])
        # And back: an expression the default rig has but tiny lacks, in the same command.
        ack = await command(ctl, type="set", id=4, rig="default", expr="happy_soft_ah")
        assert ack["type"] == "ack" and ack["result"]["rig"] == "default", ack
        assert ack["result"]["expr"] == "happy_soft_ah"
        assert (await recv(viewer, "rig"))["rig"]["id"] == "default"
        frames = await recv(viewer, "frames")
        assert all(
            u.startswith("/frames/endpoints/") or u.startswith("/frames/sequences/") for _, u in frames["frames"]
        )


async def test_an_unknown_rig_is_an_error_and_changes_nothing(server: LiveServer) -> None:
    async with connect(ws_url(server, "errs", role="controller")) as ctl:
        await recv(ctl, "hello")
        for bad in ("nope", "broken", "Tiny"):
            reply = await command(ctl, type="set", id=1, rig=bad)
            assert reply["type"] == "error" and reply["code"] == "unknown_rig", reply
            assert "unknown rig" in reply["message"]
        reply = await command(ctl, type="set", id=1, rig=7)
        assert reply["code"] == "bad_message" and reply["message"] == "rig: must be a string, got 7", reply
        reply = await command(ctl, type="set", id=2, rig="tpiny")
        assert "did you mean 'tiny'?" in reply["message"] and "default, tiny" in reply["message"]
        # An expression the asked-for rig lacks: refused before the switch.
        reply = await command(ctl, type="set", id=3, rig="tiny", expr="happy_soft_ah")
        assert reply["type"] == "error" and "happy_soft_ah" in reply["message"], reply
        reply = await command(ctl, type="play", id=4, rig="nope", timeline_id="hello")
        assert reply["type"] == "error" and reply["code"] == "unknown_rig", reply
    with server.client() as c:
        assert c.get("/channels/errs").json()["rig"] == "default"
        res = c.post("/channels/errs/set", json={"rig": "nope"})
        assert res.status_code == 400 and "unknown rig 'nope'" in res.json()["error"]
        res = c.post("/channels/errs/set", json={"rig": "tiny"})
        assert res.status_code == 200 and res.json()["rig"] == "tiny"
        assert c.get("/channels/errs").json()["rig"] == "tiny"


def _tiny_timeline() -> dict[str, Any]:
    return {
        "version": 1,
        "tracks": {"emotion": [{"t_ms": 0, "expr": "happy_big", "transition_ms": 200}]},
        "duration_ms": 1000,
    }


async def test_play_with_a_rig_switches_and_plays_it(server: LiveServer) -> None:
    async with connect(ws_url(server, "prog", role="controller")) as ctl:
        await recv(ctl, "hello")
        await ctl.send(json.dumps({"type": "play", "id": 1, "rig": "tiny", "timeline": _tiny_timeline()}))
        queue = FrameQueue(server)
        await queue.follow(ctl, 1.5)
        types = [m["type"] for m in queue.messages]
        assert "error" not in types, queue.messages
        assert types.index("rig") < types.index("program_start") < types.index("ack")
        switch_ms = next(m for m in queue.messages if m["type"] == "rig")["t_ms"]
        urls = [u for t, u in queue.frames if t >= switch_ms]
        assert "/frames/rigs/tiny/endpoints/happy_big__center.png" in urls
        assert all(u.startswith("/frames/rigs/tiny/") for u in urls)


def test_schedule_and_export_for_a_chosen_rig(server: LiveServer, rigs_dir: Path, tmp_path: Path) -> None:
    with server.client() as c:
        assert c.put("/timelines/tiny-hi", json=_tiny_timeline()).status_code in (200, 201)
        default = c.get("/timelines/tiny-hi/schedule").json()
        tiny = c.get("/timelines/tiny-hi/schedule?rig=tiny").json()
        # The same routes, through each rig's own sequences (the two rigs' tween counts differ).
        assert default["changes"][-1][1] == tiny["changes"][-1][1] == "endpoints/happy_big__center.png"
        assert {k for _, k in tiny["changes"]} <= set(server.app.state.server.rigs["tiny"].rig.file_sizes)
        bad = c.get("/timelines/tiny-hi/schedule?rig=nope")
        assert bad.status_code == 400 and "unknown rig 'nope'" in bad.json()["error"]
        assert c.post("/exports", json={"timeline_id": "tiny-hi", "rig": "nope"}).status_code == 400
        res = c.post("/exports", json={"timeline_id": "tiny-hi", "rig": "tiny", "options": {"format": "mp4"}})
        assert res.status_code == 202, res.text
        job = wait_for(c, res.json()["id"], ("done", "failed"))
        assert job["status"] == "done", job
        out = tmp_path / "tiny.mp4"
        out.write_bytes(c.get(job["file"]).content)
    with av.open(str(out)) as container:
        last = None
        for frame in container.decode(video=0):
            last = frame.to_ndarray(format="rgb24")
    assert last is not None and last.shape[:2] == (TINY[1], TINY[0])
    want = np.asarray(Image.open(rigs_dir / "tiny" / "endpoints" / "happy_big__center.png").convert("RGB"), float)
    assert np.abs(last.astype(float) - want).mean() < 12, "the export shows the tiny rig's final frame"


def test_bad_rigs_folder_setting_is_one_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "streamer", "serve", "--rigs", str(tmp_path / "missing"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"error: STREAMER_RIGS_DIR: {str(tmp_path / 'missing')!r} is not a folder"
    )


def test_speech_for_a_chosen_rig_uses_its_expressions(server: LiveServer) -> None:
    tiny = server.app.state.server.rigs["tiny"].rig
    with server.client(timeout=60) as c:
        before = c.get("/timelines").json()
        bad = c.post("/speech", json={"text": "Hello there!", "rig": "nope"})
        assert bad.status_code == 400 and "unknown rig 'nope'" in bad.json()["error"]
        assert c.get("/timelines").json() == before, "a refused request stores nothing"
        res = c.post("/speech", json={"text": "Hello there! This is great.", "rig": "tiny"})
        assert res.status_code == 201, res.text
        tracks = res.json()["timeline"]["tracks"]
        used = {e["expr"] for e in tracks.get("emotion", [])} | {s["viseme"] for s in tracks.get("speech", [])}
        assert used and used <= set(tiny.expressions), used
        played = c.post("/channels/said/play", json={"timeline_id": res.json()["timeline_id"], "rig": "tiny"})
        assert played.status_code == 200, played.text
        assert c.get("/channels/said").json()["rig"] == "tiny"


def test_timelines_are_checked_against_the_rig_asked_for(server: LiveServer) -> None:
    only_default = {"version": 1, "tracks": {"emotion": [{"t_ms": 0, "expr": "happy_soft_ah"}]}, "duration_ms": 500}
    with server.client() as c:
        assert c.put("/timelines/both", json=only_default).status_code in (200, 201)
        refused = c.put("/timelines/both?rig=tiny", json=only_default)
        assert refused.status_code == 422 and "happy_soft_ah" in refused.json()["error"]
        assert c.post("/timelines?rig=tiny", json=only_default).status_code == 422
        assert c.put("/timelines/both?rig=nope", json=only_default).status_code == 400
        assert c.put("/timelines/tiny-ok?rig=tiny", json=_tiny_timeline()).status_code in (200, 201)
        # Playing it on a rig that lacks its expression names the expression.
        played = c.post("/channels/t/play", json={"timeline_id": "both", "rig": "tiny"})
        assert played.status_code == 422 and "happy_soft_ah" in played.json()["error"]
        assert c.get("/channels/t").json()["rig"] == "default", "a refused play switches nothing"
