"""`streamer chat`: an OpenAI answer streamed over HTTP from the loopback fake, said on a channel as it comes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

import tests.server.conftest as server_fixtures
import tests.speech.fakeapi as fake_fixtures
from tests.server.conftest import MakeServer
from tests.server.test_live import recv, ws_url
from tests.speech.fakeapi import OPENAI_KEY, FakeAPI, Scripted

# The live server of tests/server and the fake OpenAI server of tests/speech.
make_server, rig, rig_dir = server_fixtures.make_server, server_fixtures.rig, server_fixtures.rig_dir
fake, fake_api = fake_fixtures.fake, fake_fixtures.fake_api

REPO = Path(__file__).resolve().parents[1]
FIRST = "[excited] Oh wow, hello! Thanks for dropping by the stream today, it means a lot to me."
SECOND = "[concerned] Hmm, that sounds hard. Tell me more about it."


def chat_process(server_url: str, fake: FakeAPI, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": fake.openai_url, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "streamer", "chat", "--server", server_url, "--channel", "bot", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


async def until(viewer: Any, check: Any, timeout: float = 30) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not seen or not check(seen[-1]):
        seen.append(await recv(viewer, timeout=deadline - time.monotonic()))
    return seen


async def test_an_answer_is_said_as_it_streams_and_a_new_line_interrupts_it(
    make_server: MakeServer, fake: FakeAPI, tmp_path: Path
) -> None:
    server = make_server()
    with server.client() as c:
        assert c.post("/channels/bot/stop").status_code == 200
    persona = tmp_path / "persona.txt"
    persona.write_text("You are Pip, a cheerful fox. Use [excited] and [concerned] tags.", encoding="utf-8")
    fake.script("chat_stream", Scripted(body=FIRST, delay_s=0.15), Scripted(body=SECOND))
    proc = chat_process(server.base_url, fake, "--persona", str(persona), "--model", "fake-model")
    assert proc.stdin is not None
    async with connect(ws_url(server, "bot")) as viewer:
        await recv(viewer, "frames")
        proc.stdin.write("hi there!\n")
        proc.stdin.flush()
        first = await until(viewer, lambda m: m["type"] == "audio")
        program = next(m for m in reversed(first) if m["type"] == "program_start")["program"]
        assert program["stream"] == "chat-1"
        state = await recv(viewer, "state")
        assert state["expr"] == "happy_big", "the [excited] tag sets the face; the tag is not spoken"
        # The first answer is still streaming (0.15 s a word): a new line interrupts it.
        proc.stdin.write("I had a rough day.\n")
        proc.stdin.flush()
        ended = await until(viewer, lambda m: m["type"] == "program_end")
        assert ended[-1]["reason"] == "interrupted" and ended[-1]["program_id"] == program["id"]
        second = await until(viewer, lambda m: m["type"] == "program_start" and m["program"]["stream"] == "chat-2")
        assert second
        proc.stdin.close()
        done = await until(viewer, lambda m: m["type"] == "program_end", timeout=60)
        assert done[-1]["reason"] == "finished"
        states = [m for m in done if m["type"] == "state"]
        assert states and states[0]["expr"] == "concerned"
    assert await asyncio.to_thread(proc.wait, 30) == 0, proc.stderr.read() if proc.stderr else ""
    out = proc.stdout.read() if proc.stdout else ""
    assert "[" not in out and "Hmm, that sounds hard." in out
    calls = [r.json for r in fake.calls("/chat/completions")]
    assert [c["stream"] for c in calls] == [True, True] and calls[0]["model"] == "fake-model"
    assert calls[1]["messages"][0] == {"role": "system", "content": persona.read_text(encoding="utf-8")}
    assert [m["role"] for m in calls[1]["messages"]] == ["system", "user", "assistant", "user"]
    assert calls[1]["messages"][2]["content"].startswith("[excited] Oh wow"), "what was said so far is kept"
    assert json.dumps(calls)


def test_chat_without_a_key_says_how_to_set_it(make_server: MakeServer) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    run = subprocess.run(
        [sys.executable, "-m", "streamer", "chat"], capture_output=True, text=True, env=env, input="", timeout=60
    )
    assert run.returncode == 2 and run.stderr.strip().startswith("error: chat needs OPENAI_API_KEY")
