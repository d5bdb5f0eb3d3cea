"""Load generation for live benchmarks: a server subprocess and viewer processes (I/O).

Not meant to be run by hand: the fanout and latency benchmarks start the server with
:func:`start_server` and spawn ``python -m benchmarks.loadgen URL COUNT`` (recording viewers)
or ``python -m benchmarks.loadgen drain URL COUNT`` (viewers that only consume bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway ``redis-server`` on a free loopback port (no persistence); yields its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def start_server(workers: int = 1, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``streamer serve`` in its own process on a free loopback port; yields (base URL, process).

    With ``workers`` > 1, ``serve --workers N`` sharing channels through a redis-server of its own.
    """
    if workers > 1:
        with redis_server() as url, start_server(1, REDIS_URL=url, STREAMER_WORKERS=str(workers), **env) as started:
            yield started
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        environ = {**os.environ, "STREAMER_DATA_DIR": data, "STREAMER_FRAMES_DIR": str(ROOT / "frames"), **env}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import resource as r; s,h=r.getrlimit(r.RLIMIT_NOFILE); r.setrlimit(r.RLIMIT_NOFILE,(h,h));"
                "from streamer.cli import main; raise SystemExit(main())",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError("server did not start: " + err[-2000:]) from None
                time.sleep(0.1)
        try:
            yield base, proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def draining_viewers(url: str, count: int) -> Iterator[None]:
    """``count`` viewers of ``url`` in a separate process that only consume bytes, until the block ends."""
    drain = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.loadgen", "drain", url, str(count)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert drain.stdout is not None and drain.stdin is not None
    try:
        if not drain.stdout.readline():
            raise RuntimeError("the drain viewers could not connect")
        yield
    finally:
        drain.stdin.write("stop\n")
        drain.stdin.flush()
        drain.wait(30)


def post(base: str, path: str, body: Any) -> Any:
    req = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def proc_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds used, resident bytes) of a process and its child processes (workers), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children") as f:
        for child in f.read().split():
            with contextlib.suppress(OSError, StopIteration):
                child_cpu, child_rss = proc_usage(int(child))
                cpu, rss = cpu + child_cpu, rss + child_rss
    return cpu, rss


async def clock_offset(ws: Any, samples: int = 8) -> float:
    """Server clock minus this process's monotonic ms, best of ``samples`` ping/pongs."""
    best: tuple[float, float] | None = None
    for i in range(samples):
        sent = time.monotonic() * 1000
        await ws.send(json.dumps({"type": "ping", "id": f"clk{i}", "client_time": sent}))
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == "pong" and msg["id"] == f"clk{i}":
                break
        got = time.monotonic() * 1000
        rtt = got - sent
        offset = msg["server_time_ms"] - (sent + got) / 2
        if best is None or rtt < best[0]:
            best = (rtt, offset)
    assert best is not None
    return best[1]


class _Viewer:
    """One connection's received messages (arrival time on the server clock, raw text)."""

    __slots__ = ("ws", "log", "closed", "frames", "late", "min_margin", "first_frames_at")

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.log: list[tuple[float, str]] = []
        self.closed: int | None = None
        self.frames: dict[int, str] = {}
        self.late = 0
        self.min_margin = float("inf")
        self.first_frames_at: dict[int, float] = {}

    def analyse(self) -> None:
        """Replay the log: frames of the program, their margins, first arrival per re-plan.

        Parsing happens here, after the run, so the timed part only stamps arrivals. The
        re-plan that precedes ``program_start`` is kept aside until then. The join message
        (right after ``hello``) is skipped: its first pair is the frame already on screen, in
        the past by definition.
        """
        window: tuple[int, int] | None = None
        replan: tuple[float, dict[str, Any]] | None = None
        after_hello = False
        for now, raw in self.log:
            msg = json.loads(raw)
            kind = msg["type"]
            if kind == "hello":
                after_hello = True
                continue
            if kind == "program_start":
                window = (msg["program"]["start_ms"], msg["program"]["end_ms"])
                if replan is None:
                    continue
                now, msg = replan
            elif kind != "frames":
                continue
            else:
                self.first_frames_at.setdefault(msg["from_ms"], now)
                if after_hello:  # the join message
                    after_hello = False
                    continue
                if window is None:  # idle before the program; the last one is the re-plan
                    replan = (now, msg)
                    continue
            for t, frame_url in msg["frames"]:
                margin = t - now
                self.min_margin = min(self.min_margin, margin)
                if margin < 0:
                    self.late += 1
                    if os.environ.get("LOADGEN_DEBUG"):
                        print("late", t, round(now), msg["from_ms"], len(msg["frames"]), file=sys.stderr)
                if window is not None and window[0] <= t < window[1]:
                    self.frames[t] = frame_url


async def _viewers(url: str, count: int) -> None:
    raise_fd_limit()
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(100)

    async def connect() -> Any:
        async with sem:
            for attempt in range(5):
                try:
                    return await websockets.connect(
                        url, max_size=2**20, open_timeout=60, ping_interval=None, compression=None
                    )
                except OSError:
                    await asyncio.sleep(0.2 * (attempt + 1))
            return await websockets.connect(url, max_size=2**20, open_timeout=60, ping_interval=None, compression=None)

    sockets = await asyncio.gather(*(connect() for _ in range(count)))
    # Ready once every viewer has joined (its hello arrived): in another process than the channel's
    # (serve --workers), joining takes a round trip to the process running it.
    firsts = await asyncio.gather(*(ws.recv() for ws in sockets))
    offset = await clock_offset(sockets[0])
    viewers = [_Viewer(ws) for ws in sockets]
    for viewer, first in zip(viewers, firsts, strict=True):
        viewer.log.append((time.monotonic() * 1000 + offset, first))

    async def read(v: _Viewer) -> None:
        log, clock = v.log, time.monotonic
        try:
            async for raw in v.ws:
                log.append((clock() * 1000 + offset, raw))
        except websockets.ConnectionClosed as exc:
            v.closed = exc.rcvd.code if exc.rcvd else 1006

    readers = [asyncio.create_task(read(v)) for v in viewers]
    print(json.dumps({"ready": True, "offset": offset}), flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    cmd = json.loads(line)
    if "stop_after_s" in cmd:
        await asyncio.sleep(cmd["stop_after_s"])
    else:
        end_local = cmd["end_ms"] - offset
        await asyncio.sleep(max(0.0, (end_local - time.monotonic() * 1000) / 1000) + 1.0)
    for task in readers:
        task.cancel()
    for v in viewers:
        v.analyse()
    result: dict[str, Any] = {
        "viewers": count,
        "closed": sum(v.closed is not None for v in viewers),
        "late_frames": sum(v.late for v in viewers),
        "min_margin_ms": min(v.min_margin for v in viewers),
        "frame_counts": sorted({len(v.frames) for v in viewers}),
    }
    if "expect" in cmd:  # [[t_ms from the program start, url], ...]: compare every viewer's frames
        expected = [(int(t), str(u)) for t, u in cmd["expect"]]
        received = (sorted((t - cmd["start_ms"], u) for t, u in v.frames.items()) for v in viewers)
        wrong = [got for got in received if got != expected]
        result["wrong_viewers"] = len(wrong)
        if wrong:
            result["first_difference"] = next(
                ([g, e] for g, e in itertools.zip_longest(wrong[0], expected) if g != e), None
            )
    if cmd.get("report_first_frames"):
        first: dict[int, list[float]] = {}
        for v in viewers:
            for from_ms, at in v.first_frames_at.items():
                first.setdefault(from_ms, []).append(at)
        result["first_frames"] = first
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    print(json.dumps(result), flush=True)


async def _drain(url: str, count: int) -> None:
    raise_fd_limit()
    transports = await drain_viewers(url, count)
    print(json.dumps({"ready": True}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for transport in transports:
        transport.close()


def main() -> None:
    if sys.argv[1] == "drain":  # python -m benchmarks.loadgen drain URL COUNT
        asyncio.run(_drain(sys.argv[2], int(sys.argv[3])))
    else:  # python -m benchmarks.loadgen URL COUNT
        asyncio.run(_viewers(sys.argv[1], int(sys.argv[2])))


class _Drain(asyncio.Protocol):
    """A WebSocket viewer that completes the handshake, then reads and discards everything."""

    def __init__(self, request: bytes, ready: asyncio.Future[None]) -> None:
        self.request, self.ready, self.head = request, ready, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            self.head += data
            if b"\r\n\r\n" in self.head:
                self.ready.set_result(None)


async def drain_viewers(url: str, count: int) -> list[asyncio.BaseTransport]:
    """``count`` cheap viewers: real TCP consumers of every message, with no parsing cost."""
    host_port, _, path = url.removeprefix("ws://").partition("/")
    host, _, port = host_port.partition(":")
    request = (
        f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(100)

    async def one() -> asyncio.BaseTransport:
        async with sem:
            ready: asyncio.Future[None] = loop.create_future()
            transport, _ = await loop.create_connection(lambda: _Drain(request, ready), host, int(port))
            await ready
            return transport

    return list(await asyncio.gather(*(one() for _ in range(count))))


if __name__ == "__main__":
    main()
