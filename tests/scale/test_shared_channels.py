"""Channels shared by several ``streamer serve`` processes through Redis (docs/scaling.md)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from bisect import bisect_right
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.workloads import lipsync_timeline
from streamer.core.errors import CommandError, NotFound
from streamer.core.resolve import resolve
from streamer.core.rig import Rig
from streamer.core.timeline import parse_timeline
from streamer.server.channels import ChannelLimit
from streamer.server.shared import rebuild_error
from tests.reliability.conftest import ServerProcess
from tests.scale.conftest import Cluster

TIMEOUT = 15


def ws_url(server: ServerProcess, channel: str = "main", **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"channel": channel, **params}.items())
    return f"ws://127.0.0.1:{server.port}/ws?{query}"


class Viewer:
    """What one viewer was sent: every message, and its frame queue (the protocol's replace-from rule)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.frames: dict[int, str] = {}
        self.arrivals: list[tuple[float, dict[str, Any]]] = []  # (monotonic time, frames message)
        self.until_ms = 0  # frames are known up to here

    def apply(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if message["type"] == "hello":
            self.frames = {}
        if message["type"] != "frames":
            return
        self.arrivals.append((time.monotonic(), message))
        self.frames = {t: url for t, url in self.frames.items() if t < message["from_ms"]}
        self.frames.update({t: url for t, url in message["frames"]})
        self.until_ms = message["until_ms"]

    async def until(self, done: Any, timeout: float = TIMEOUT) -> None:
        """Read until ``done(self)`` holds."""
        deadline = time.monotonic() + timeout
        while not done(self):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; last messages: {self.messages[-3:]}"
            self.apply(json.loads(await asyncio.wait_for(self.ws.recv(), left)))

    async def follow(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                self.apply(json.loads(await asyncio.wait_for(self.ws.recv(), left)))
            except TimeoutError:
                return

    def shown_at(self, t: int) -> str | None:
        """The frame key this viewer shows at server time ``t``."""
        times = sorted(self.frames)
        i = bisect_right(times, t) - 1
        return self.frames[times[i]].split("/frames/", 1)[1] if i >= 0 else None

    def window(self, start_ms: int, end_ms: int) -> list[tuple[int, str]]:
        return sorted((t, url) for t, url in self.frames.items() if start_ms <= t < end_ms)


def reachable(server: ServerProcess) -> bool:
    return bool(httpx.get(server.base_url + "/health", timeout=TIMEOUT).json()["redis"]["reachable"])


def replanned_from(from_ms: int) -> Any:
    """The viewer got the re-plan a command made (its frames from ``from_ms``)."""
    return lambda v: any(m["type"] == "frames" and m["from_ms"] == from_ms for m in v.messages)


def sent(kind: str) -> Any:
    return lambda v: any(m["type"] == kind for m in v.messages)


async def command(ws: ClientConnection, **body: Any) -> dict[str, Any]:
    await ws.send(json.dumps(body))
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message["type"] in ("ack", "error") and message.get("id") == body.get("id"):
            assert message["type"] == "ack", message
            return dict(message["result"])


def off_schedule(viewer: Viewer, rig: Rig, doc: dict[str, Any], program: dict[str, Any]) -> list[int]:
    """Times (every 5 ms of the program) when the frame the viewer would show is not the schedule's."""
    schedule = resolve(parse_timeline(doc), rig)
    start = program["start_ms"]
    return [t for t in range(start, program["end_ms"], 5) if viewer.shown_at(t) != schedule.key_at(t - start)]


async def test_viewers_on_three_processes_see_identical_frames_for_a_command_sent_to_any(
    cluster: Cluster, rig: Rig
) -> None:
    servers = cluster.start(3)
    doc = lipsync_timeline(4000, seed=3)
    async with (
        connect(ws_url(servers[0])) as a,
        connect(ws_url(servers[1])) as b,
        connect(ws_url(servers[2])) as c,
    ):
        viewers = [Viewer(a), Viewer(b), Viewer(c)]
        await asyncio.gather(*(v.until(sent("hello")) for v in viewers))
        # A command to each process in turn (a controller's socket, then REST), whichever runs the channel.
        async with connect(ws_url(servers[1], role="controller")) as ctl:
            first = await command(ctl, type="set", id=1, expr="concerned", transition_ms=300)
        with httpx.Client(base_url=servers[2].base_url, timeout=TIMEOUT) as http:
            response = http.post("/channels/main/play", json={"timeline": doc})
            assert response.status_code == 200, response.text
            program = response.json()
        with httpx.Client(base_url=servers[0].base_url, timeout=TIMEOUT) as http:
            for _ in range(50):  # other processes report their viewers to the owner every second
                described = http.get("/channels/main").json()
                if described["viewers"] == 3:
                    break
                await asyncio.sleep(0.1)
        assert described["program"]["id"] == program["id"] and described["viewers"] == 3
        end = program["end_ms"] + 500
        await asyncio.gather(*(v.until(lambda v: v.until_ms >= end) for v in viewers))
        start = first["t_ms"] - 300
        windows = [v.window(start, end) for v in viewers]
        assert len(windows[0]) > 20 and windows[0] == windows[1] == windows[2]
        assert off_schedule(viewers[0], rig, doc, program) == []
        assert all([m for m in v.messages if m["type"] == "program_start"][-1]["program"] == program for v in viewers)


async def test_a_late_viewer_on_another_process_is_brought_up_to_date(cluster: Cluster) -> None:
    first, other = cluster.start(2)
    with httpx.Client(base_url=first.base_url, timeout=TIMEOUT) as http:
        program = http.post("/channels/late/play", json={"timeline": lipsync_timeline(6000, seed=4)}).json()
    await asyncio.sleep(0.5)
    async with connect(ws_url(other, "late")) as ws, connect(ws_url(first, "late")) as ws_first:
        late, here = Viewer(ws), Viewer(ws_first)
        await asyncio.gather(late.until(sent("program_start")), here.until(sent("program_start")))
        assert [m["type"] for m in late.messages][:3] == ["hello", "frames", "program_start"]
        assert late.messages[0]["program"]["id"] == program["id"]
        await asyncio.gather(late.follow(1.5), here.follow(1.5))
        # A command the owner refuses is refused the same way through the other process.
        with httpx.Client(base_url=other.base_url, timeout=TIMEOUT) as http:
            response = http.post("/channels/late/play", json={"timeline_id": "nope"})
        assert response.status_code == 404 and "nope" in response.json()["error"]
        t0, until = max(min(late.frames), min(here.frames)), min(late.until_ms, here.until_ms)  # both joined
        assert until > t0 + 1000
        assert [late.shown_at(t) for t in range(t0, until, 5)] == [here.shown_at(t) for t in range(t0, until, 5)]


async def test_killing_the_owner_mid_program_another_process_continues_the_same_schedule(
    cluster: Cluster, rig: Rig
) -> None:
    servers = cluster.start(3)
    owner = cluster.runner_of("main")
    survivors = [s for s in servers if s is not owner]
    doc = lipsync_timeline(9000, seed=5)
    async with connect(ws_url(survivors[0])) as a, connect(ws_url(survivors[1])) as b:
        viewers = [Viewer(a), Viewer(b)]
        await asyncio.gather(*(v.until(sent("hello")) for v in viewers))
        with httpx.Client(base_url=survivors[0].base_url, timeout=TIMEOUT) as http:
            program = http.post("/channels/main/play", json={"timeline": doc}).json()
        await asyncio.gather(*(v.until(lambda v: v.until_ms >= program["start_ms"] + 1000) for v in viewers))
        owner.kill()
        killed_at = time.monotonic()
        await asyncio.gather(*(v.until(sent("program_end"), timeout=30) for v in viewers))
        # Another process runs the channel, and every frame of the program is the schedule's.
        assert cluster.runner_of("main") in survivors
        for viewer in viewers:
            assert off_schedule(viewer, rig, doc, program) == []
            ended = [m for m in viewer.messages if m["type"] == "program_end"]
            assert ended and ended[-1]["program_id"] == program["id"] and ended[-1]["reason"] == "finished"
        arrived = [killed_at] + [t for t, _ in viewers[0].arrivals if t > killed_at]
        gap = max(b - a for a, b in zip(arrived, arrived[1:], strict=False))
        print(f"longest silence after the kill: {gap:.2f} s")  # takeover time: benchmarks/fanout.py reports it


async def test_a_command_sent_as_the_owner_dies_lands_on_the_process_that_takes_over(cluster: Cluster) -> None:
    first, second = cluster.start(2)
    with httpx.Client(base_url=first.base_url, timeout=TIMEOUT) as http:
        assert http.post("/channels/main/set", json={"expr": "concerned"}).is_success  # first runs "main"
    async with connect(ws_url(second)) as ws:
        viewer = Viewer(ws)
        await viewer.until(sent("frames"))  # second has heard first broadcast: it forwards to first from now on
        with httpx.Client(base_url=second.base_url, timeout=TIMEOUT) as http:
            t = http.post("/channels/main/set", json={"expr": "happy_big", "transition_ms": 200}).json()["t_ms"]
            await viewer.until(replanned_from(t - 200))
            first.kill()
            # Sent before anyone knows: forwarded to the dead process, then through the lease, and
            # run by whichever process holds it next, within the forwarding timeout.
            response = http.post("/channels/main/set", json={"expr": "surprised_ah", "transition_ms": 200})
        assert response.status_code == 200, response.text
        t = response.json()["t_ms"]
        await viewer.until(replanned_from(t - 200))
        assert "surprised_ah" in str(viewer.shown_at(t + 500))
    assert cluster.runner_of("main") is second


async def test_redis_restarted_mid_program_processes_reconnect_and_the_channel_resumes(cluster: Cluster) -> None:
    first, second = cluster.start(2)
    async with connect(ws_url(first)) as ws_a, connect(ws_url(second)) as ws_b:
        a, b = Viewer(ws_a), Viewer(ws_b)
        await asyncio.gather(a.until(sent("hello")), b.until(sent("hello")))
        with httpx.Client(base_url=second.base_url, timeout=TIMEOUT) as http:
            assert http.post("/channels/main/play", json={"timeline": lipsync_timeline(8000, seed=6)}).is_success
        await asyncio.sleep(0.5)
        (runner,) = cluster.runners_of("main")
        elsewhere = b if runner is first else a
        cluster.redis.stop()
        await asyncio.gather(a.follow(1.5), b.follow(1.5))
        cluster.redis.start()  # empty: it kept nothing
        seen = {id(v): len(v.messages) for v in (a, b)}

        def since_restart(kind: str) -> Any:
            return lambda v: any(m["type"] == kind for m in v.messages[seen[id(v)] :])

        deadline = time.monotonic() + 20
        while not all(reachable(server) for server in (first, second)):
            assert time.monotonic() < deadline, "a process did not reconnect to Redis"
            await asyncio.sleep(0.1)
        # The viewer of the process not running the channel missed messages: it is brought up to
        # date again (a fresh hello), and both viewers get frames again. The channel was not moved:
        # Redis came back empty, and its runner took its lease again before anyone else could.
        await elsewhere.until(since_restart("hello"))
        await asyncio.gather(a.until(since_restart("frames")), b.until(since_restart("frames")))
        assert cluster.runners_of("main") == [runner]
        # A command through either process works again, and both viewers get what it planned.
        deadline = time.monotonic() + 20
        for server, expr in ((first, "concerned"), (second, "happy_big")):
            with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
                while True:
                    response = http.post("/channels/main/set", json={"expr": expr, "transition_ms": 200})
                    if response.status_code == 200 or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
                assert response.status_code == 200, response.text
        t = response.json()["t_ms"]
        await asyncio.gather(a.until(replanned_from(t - 200)), b.until(replanned_from(t - 200)))
        shown = [[v.shown_at(t) for t in range(t - 200, t + 1000, 5)] for v in (a, b)]
        assert shown[0] == shown[1] and "happy_big" in str(shown[0][-1])
        assert "reconnecting" in "".join(s.log() for s in (first, second))


async def test_a_stalled_redis_does_not_hold_back_the_owners_own_viewers(cluster: Cluster, rig: Rig) -> None:
    pause_s = 0.8  # shorter than the lease's expiry after its last renewal (1.5 s - 0.5 s)
    first, second = cluster.start(2)
    # The mouth moves every 100 ms throughout, so every 250 ms batch has changes and goes out (a
    # batch without changes waits for the 1 s heartbeat: pauses in speech would leave the stall
    # with one top-up or none, whatever the server does).
    doc = lipsync_timeline(6000, seed=7)
    visemes = ["speaking_ah", "oh_round"]
    doc["tracks"]["speech"] = [
        {"t_ms": t, "end_ms": t + 100, "viseme": visemes[t // 100 % 2]} for t in range(0, 6000, 100)
    ]
    async with connect(ws_url(first)) as ws_a, connect(ws_url(second)) as ws_b:
        viewers = [Viewer(ws_a), Viewer(ws_b)]
        await asyncio.gather(*(v.until(sent("hello")) for v in viewers))
        with httpx.Client(base_url=first.base_url, timeout=TIMEOUT) as http:
            program = http.post("/channels/main/play", json={"timeline": doc}).json()
        await asyncio.gather(*(v.until(lambda v: v.until_ms >= program["start_ms"] + 1000) for v in viewers))
        (runner,) = cluster.runners_of("main")
        own = viewers[0] if runner is first else viewers[1]
        # Stall it just after a top-up (the next ones come every 250 ms while the mouth moves).
        seen = len(own.arrivals)
        await own.until(lambda v: any(m["until_ms"] - m["from_ms"] <= 300 for _, m in v.arrivals[seen:]))
        cluster.redis.pause()
        paused_at = time.monotonic()
        try:
            await asyncio.gather(*(v.follow(pause_s) for v in viewers))
        finally:
            cluster.redis.resume()
            resumed_at = time.monotonic()
        # The owner published a batch every 250 ms into the stalled connection and wrote each to
        # its own viewers at once (waiting for Redis's answer, they got one, then nothing).
        during = [at for at, _ in own.arrivals if paused_at < at < resumed_at]
        windows = [(round(at - paused_at, 3), m["until_ms"] - m["from_ms"]) for at, m in own.arrivals[seen:]]
        assert len(during) >= 2, f"{len(during)} frames messages while Redis stalled (arrival s, window ms): {windows}"
        # Once Redis runs again, the other process gets what was published meanwhile: both
        # viewers end with the whole program, every frame the schedule's, on the same owner.
        await asyncio.gather(*(v.until(sent("program_end"), timeout=20) for v in viewers))
        for viewer in viewers:
            assert off_schedule(viewer, rig, doc, program) == []
    assert cluster.runners_of("main") == [runner]


async def test_serve_with_workers_starts_processes_that_share_a_channel(cluster: Cluster) -> None:
    workers = 2
    (server,) = cluster.start(1, STREAMER_WORKERS=str(workers))
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while len(seen) < workers and time.monotonic() < deadline:  # a fresh connection each time: any worker answers
        seen.add(cluster.process_id(server))
    assert len(seen) == workers
    async with connect(ws_url(server, role="controller")) as ctl:
        sockets = [await connect(ws_url(server)).__aenter__() for _ in range(6)]
        try:
            viewers = [Viewer(ws) for ws in sockets]
            await asyncio.gather(*(v.until(sent("hello")) for v in viewers))
            result = await command(ctl, type="set", id=1, expr="concerned", transition_ms=300)
            t = result["t_ms"]
            await asyncio.gather(*(v.until(replanned_from(t - 300)) for v in viewers))
            windows = [v.window(t - 300, t + 1000) for v in viewers]
            assert windows[0] and all(w == windows[0] for w in windows)
        finally:
            for ws in sockets:
                await ws.close()


def test_several_workers_without_redis_is_one_error_line_and_exit_code_2(rig_dir: Any, tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_") and k not in ("PORT", "REDIS_URL")}
    argv = ["serve", "--workers", "2", "--port", "0", "--rig", str(rig_dir), "--data", str(tmp_path / "data")]
    done = subprocess.run(
        [sys.executable, "-m", "streamer", *argv], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: STREAMER_WORKERS: 2 processes cannot share channels without REDIS_URL (set it, or run one worker)"
    ]


def test_one_process_without_redis_url_never_imports_redis(tmp_path: Any) -> None:
    code = (
        "import sys; from starlette.testclient import TestClient; from streamer.server.app import create_app; "
        "from streamer.settings import Settings; "
        "client = TestClient(create_app(Settings.from_env({})));"
        "client.__enter__(); assert client.get('/health').status_code == 200; client.__exit__(None, None, None); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_an_error_the_owner_raised_is_raised_again_with_its_class() -> None:
    assert type(rebuild_error("NotFound", "no timeline 'x'")) is NotFound
    assert type(rebuild_error("ChannelLimit", "too many channels")) is ChannelLimit
    # A class built differently (RigError takes a list) or unknown here: a plain command error.
    assert type(rebuild_error("RigError", "bad rig")) is CommandError
    assert str(rebuild_error("NoSuchError", "odd")) == "odd"
