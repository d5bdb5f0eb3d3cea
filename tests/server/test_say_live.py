"""Text said live on a channel: segments without gaps, streamed pieces, interrupts, bad input."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.server.conftest import LiveServer
from tests.server.test_live import FrameQueue, command, recv, ws_url

PARAGRAPH = (
    "Hello there, and welcome back to the stream! Today we are going to build something fun. "
    "First, we sketch the idea; then, we make it real. Are you ready? Let's go."
)


def create(server: LiveServer, channel: str) -> None:
    with server.client() as c:
        assert c.post(f"/channels/{channel}/stop").status_code == 200


async def collect(viewer: ClientConnection, until: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Messages up to and including the first of type ``until``."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not out or out[-1]["type"] != until:
        out.append(await recv(viewer, timeout=deadline - time.monotonic()))
    return out


def segments_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == "audio"]


async def test_a_paragraph_is_said_in_segments_that_follow_each_other_without_gaps(server: LiveServer) -> None:
    create(server, "talk")
    async with connect(ws_url(server, "talk")) as viewer:
        await recv(viewer, "frames")
        with server.client() as c:
            said = c.post("/channels/talk/say", json={"text": PARAGRAPH, "voice": "en-us"})
        assert said.status_code == 200, said.text
        assert said.json()["final"] is True and said.json()["segments"] >= 4
        messages = await collect(viewer, "program_end")
    audio = segments_of(messages)
    assert [a["segment"] for a in audio] == list(range(len(audio))) and len(audio) == said.json()["segments"]
    assert len({a["program_id"] for a in audio}) == 1, "one program that grows"
    ends = [before["start_ms"] + before["duration_ms"] for before in audio]
    assert all(after["start_ms"] >= end for after, end in zip(audio[1:], ends, strict=False)), "no overlap"
    # No gap where synthesis kept up (it does on an idle machine; under load a late one starts asap).
    assert sum(after["start_ms"] == end for after, end in zip(audio[1:], ends, strict=False)) >= 2
    end = messages[-1]
    assert end["reason"] == "finished" and end["t_ms"] >= audio[-1]["start_ms"] + audio[-1]["duration_ms"]
    with server.client() as c:
        for a in audio:
            fetched = c.get(a["url"])
            assert fetched.status_code == 200 and fetched.content[:4] == b"OggS"


async def test_pieces_of_a_stream_are_said_as_they_arrive_and_a_late_viewer_hears_the_rest(server: LiveServer) -> None:
    create(server, "llm")
    async with connect(ws_url(server, "llm")) as viewer, connect(ws_url(server, "llm", role="controller")) as ctl:
        await recv(viewer, "frames")
        pieces = ["Well, ", "that is a really ", "good question. ", "I think the answer ", "is forty two. ", "Bye"]
        for i, piece in enumerate(pieces):
            final = i == len(pieces) - 1
            ack = await command(ctl, type="say", id=i, stream="answer-1", text=piece, final=final)
            assert ack["type"] == "ack" and ack["result"]["stream"] == "answer-1", ack
        first = await recv(viewer, "audio")
        assert first["segment"] == 0
        async with connect(ws_url(server, "llm")) as late:
            joined = await collect(late, "frames")
            assert joined[0]["type"] == "hello" and joined[0]["program"]["stream"] == "answer-1"
            start = await recv(late, "program_start")
            heard = [await recv(late, "audio") for _ in range(start["program"]["segments"])]
            assert heard and heard[0]["segment"] <= 1, "the segment playing now is announced to a late viewer"
        messages = await collect(viewer, "program_end")
    audio = [first, *segments_of(messages)]
    assert [a["segment"] for a in audio] == [0, 1, 2, 3], "Well, that is a | ... question. | I think ... two. | Bye"
    assert messages[-1]["reason"] == "finished"


async def test_an_interrupt_drops_what_is_queued_and_closes_the_mouth(server: LiveServer) -> None:
    create(server, "cut")
    async with connect(ws_url(server, "cut")) as viewer:
        q = FrameQueue(server)
        q.apply(await recv(viewer, "frames"))
        with server.client() as c:
            assert c.post("/channels/cut/say", json={"text": PARAGRAPH}).status_code == 200
            started = await recv(viewer, "audio")
            interrupted = c.post("/channels/cut/interrupt")
        assert interrupted.status_code == 200 and interrupted.json() == {"interrupted": started["program_id"]}
        messages = await collect(viewer, "program_end")
        for m in messages:
            q.apply(m)
        end = messages[-1]
        assert end["reason"] == "interrupted" and end["program_id"] == started["program_id"]
        state = await recv(viewer, "state")
        await q.follow(viewer, 1.5)
        assert "speaking" not in q.at(state["t_ms"]), "the mouth is closed once the interrupt settles"
        assert not [m for m in q.messages if m["type"] == "audio"], "nothing more is said"
        with server.client() as c:
            assert c.get("/channels/cut").json()["program"] is None


def test_text_streamed_as_a_chunked_plain_body_is_said(server: LiveServer) -> None:
    create(server, "pipe")

    text = "Streaming words ñ as they come, one by one. The end.".encode()
    cuts = [0, *range(2, len(text), 3), len(text)]
    assert 17 in cuts and text[16:18] == "ñ".encode(), "a piece ends inside the two bytes of the ñ"

    def pieces() -> Iterator[bytes]:
        for a, b in zip(cuts, cuts[1:], strict=False):
            yield text[a:b]
            time.sleep(0.01)

    with server.client() as c:
        said = c.post(
            "/channels/pipe/say?stream=pipe-1&rate_wpm=200",
            content=pieces(),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        assert said.status_code == 200, said.text
        assert said.json() == {"stream": "pipe-1", "segments": 3, "final": True}  # "..., come," | ... | "The end."
        program = c.get("/channels/pipe").json()["program"]
        deadline = time.monotonic() + 10
        while (program is None or program["segments"] < 3) and time.monotonic() < deadline:
            time.sleep(0.05)
            program = c.get("/channels/pipe").json()["program"]
        assert program is not None and program["stream"] == "pipe-1" and program["segments"] == 3


async def test_bad_say_input_is_a_clear_error(server: LiveServer) -> None:
    create(server, "bad")
    with server.client() as c:
        for body, message in [
            ({}, "text: is required"),
            ({"text": "hi", "final": "yes"}, "final: must be true or false"),
            ({"text": "hi", "stream": "a b"}, "stream: must be 1-64"),
            ({"text": "hi", "rate_wpm": "fast"}, "rate_wpm: must be an integer"),
            ({"text": "x" * 10_001}, "text: 10001 characters is over the limit"),
        ]:
            r = c.post("/channels/bad/say", json=body)
            assert r.status_code == 400 and r.json()["error"].startswith(message), (body, r.text)
        r = c.post("/channels/bad/say?rate_wpm=fast", content=b"hi", headers={"Content-Type": "text/plain"})
        assert r.status_code == 400 and r.json()["error"].startswith("rate_wpm: must be an integer")
    async with connect(ws_url(server, "bad")) as viewer:
        await recv(viewer, "frames")
        with server.client() as c:
            assert c.post("/channels/bad/say", json={"text": "Hello.", "voice": "xx-nonsense"}).status_code == 200
        error = await recv(viewer, "error")
        assert error["code"] == "speech_failed" and "voice" in error["message"], error
    assert json.dumps(error)  # the message is plain JSON for every viewer
