"""Reactions on a live channel over a real socket: layered over speech, REST and WebSocket, bad input."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect

from tests.server.conftest import LiveServer
from tests.server.test_live import FrameQueue, command, recv, server_now, ws_url
from tests.server.test_say_live import PARAGRAPH, collect, create


async def test_a_nod_while_speaking_moves_the_head_and_the_voice_goes_on(server: LiveServer) -> None:
    create(server, "nod")
    async with connect(ws_url(server, "nod")) as viewer, connect(ws_url(server, "nod", role="controller")) as ctl:
        q = FrameQueue(server)
        q.apply(await recv(viewer, "frames"))
        ack = await command(ctl, type="say", id=1, text=PARAGRAPH)
        assert ack["type"] == "ack", ack
        first = await recv(viewer, "audio")
        while server_now(server) < first["start_ms"] + 300:  # nod while the voice is heard
            await asyncio.sleep(0.02)
        ack = await command(ctl, type="react", id=2, reaction="nod")
        assert ack["type"] == "ack" and ack["result"]["reaction"] == "nod", ack
        start, end = ack["result"]["t_ms"], ack["result"]["end_ms"]
        messages = await collect(viewer, "program_end")
        for m in messages:
            q.apply(m)
    assert messages[-1]["reason"] == "finished", "the reaction did not cut the speech"
    assert {m["program_id"] for m in messages if m["type"] == "audio"} <= {first["program_id"]}
    during = [url for t, url in q.frames if start <= t < end]
    assert any("nod_down" in url for url in during), "the head goes down"
    assert any("nod_up" in url for url in during), "and up"
    assert any("speaking" in url or "_ah" in url or "_ee" in url for url in during), "the mouth keeps talking"
    assert not any("nod_" in url for t, url in q.frames if t >= end + 400), "the head comes back"


async def test_a_late_viewer_sees_the_reaction_in_progress(server: LiveServer) -> None:
    create(server, "look")
    with server.client() as c:
        reacted = c.post("/channels/look/react", json={"reaction": "look_away", "duration_ms": 3000})
    assert reacted.status_code == 200, reacted.text
    start = reacted.json()["t_ms"]
    while server_now(server) < start + 400:  # the head has turned
        await asyncio.sleep(0.02)
    async with connect(ws_url(server, "look")) as late:
        frames = await recv(late, "frames")
    assert frames["from_ms"] < start + 3000
    assert "tilt_left" in frames["frames"][0][1], "the frame on screen when it joins is turned away"
    turned = [url for t, url in frames["frames"] if t < start + 3000]
    assert all("tilt_left" in url for url in turned), frames


def test_react_over_rest_and_its_bad_input(server: LiveServer) -> None:
    create(server, "rest")
    with server.client() as c:
        happy = c.post(
            "/channels/rest/react", json={"reaction": "expression", "expr": "happy_soft", "duration_ms": 1000}
        )
        assert happy.status_code == 200, happy.text
        result = happy.json()
        assert result["reaction"] == "expression" and result["end_ms"] - result["t_ms"] >= 1000
        for body, message in [
            ({"reaction": "wave"}, "reaction: must be one of nod, shake, blink, look_away, expression"),
            ({"reaction": "expression", "expr": "grin"}, "expr: reaction expression needs one of"),
            ({"reaction": "blink", "duration_ms": 300}, "duration_ms: only expression and look_away"),
        ]:
            bad = c.post("/channels/rest/react", json=body)
            assert bad.status_code == 400 and message in bad.json()["error"], (body, bad.text)
        assert c.get("/channels/rest").json()["state"]["expr"] == "neutral", "a reaction leaves the state alone"
