"""Channel state on the wire: `state` after every change of target, `stop` with no program, heartbeats."""

from __future__ import annotations

from typing import Any

from websockets.asyncio.client import connect

from tests.server.conftest import LiveServer
from tests.server.test_live import FrameQueue, recv, ws_url

SHORT = {
    "version": 1,
    "tracks": {
        "emotion": [{"t_ms": 0, "expr": "happy_soft", "transition_ms": 200}, {"t_ms": 500, "expr": "concerned"}],
        "pose": [{"t_ms": 300, "pose": "nod_up_small", "transition_ms": 200}],
    },
    "idle": {"blink": False},
    "duration_ms": 600,  # cuts the 300 ms change to concerned: the program runs until it completes
}


def create(server: LiveServer, channel: str) -> None:
    """A command creates the channel (``stop`` on a new channel changes nothing)."""
    with server.client() as c:
        assert c.post(f"/channels/{channel}/stop").json() == {"stopped": None}


async def test_a_program_reports_its_final_state_when_it_starts_and_holds_it_after_it_ends(server: LiveServer) -> None:
    create(server, "ends")
    async with connect(ws_url(server, "ends")) as viewer:
        q = FrameQueue(server)
        q.apply(await recv(viewer, "frames"))
        with server.client() as c:
            played = c.post("/channels/ends/play", json={"timeline": SHORT})
            assert played.status_code == 200, played.text
            program = played.json()
            assert program["duration_ms"] > 600
            messages: list[dict[str, Any]] = []
            while not messages or messages[-1]["type"] != "program_end":
                messages.append(await recv(viewer))
                q.apply(messages[-1])
            states = [m for m in messages if m["type"] == "state"]
            assert [(s["expr"], s["pose"]) for s in states] == [("concerned", "nod_up_small")]
            after = await recv(viewer, "state")
            assert after == {
                "type": "state",
                "expr": "concerned",
                "pose": "nod_up_small",
                "t_ms": program["end_ms"],
                "rig": "default",
            }
            assert q.at(program["end_ms"]) == "/frames/endpoints/concerned__nod_up_small.png"
            info = c.get("/channels/ends").json()
            assert info["program"] is None
            assert info["state"] == {"expr": "concerned", "pose": "nod_up_small"}


async def test_stop_with_no_program_returns_to_neutral_at_the_current_pose(server: LiveServer) -> None:
    create(server, "stopper")
    async with connect(ws_url(server, "stopper")) as viewer:
        q = FrameQueue(server)
        q.apply(await recv(viewer, "frames"))
        with server.client() as c:
            assert c.post("/channels/stopper/set", json={"expr": "happy_big", "pose": "tilt_left_small"}).is_success
            q.apply(await recv(viewer, "frames"))
            assert (await recv(viewer, "state"))["expr"] == "happy_big"
            stopped = c.post("/channels/stopper/stop")
            assert stopped.status_code == 200 and stopped.json() == {"stopped": None}
            q.apply(await recv(viewer, "frames"))
            state = await recv(viewer, "state")
            assert (state["expr"], state["pose"]) == ("neutral", "tilt_left_small")
            assert q.at(state["t_ms"]) == "/frames/endpoints/neutral__tilt_left_small.png"
            assert c.get("/channels/stopper").json()["state"] == {"expr": "neutral", "pose": "tilt_left_small"}


async def test_frames_messages_say_what_window_they_cover_and_keep_coming_when_idle(server: LiveServer) -> None:
    create(server, "quiet")
    async with connect(ws_url(server, "quiet")) as viewer:
        hello = await recv(viewer, "hello")
        assert hello["heartbeat_ms"] == 1000 and hello["state"] == {"expr": "neutral", "pose": "center"}
        q = FrameQueue(server)
        await q.follow(viewer, 3.5)
        frames = [m for m in q.messages if m["type"] == "frames"]
        assert len(frames) >= 2, "an idle channel still sends a frames message every second or so"
        for before, after in zip(frames, frames[1:], strict=False):
            assert after["from_ms"] <= before["until_ms"] < after["until_ms"], "top-ups leave no gap"
