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
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvloop
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
    # The server's log goes to a file: a pipe nobody reads would stall the server once it filled.
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryFile() as errors:
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
            stderr=errors,
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
                    errors.seek(0)
                    err = errors.read().decode(errors="replace")
                    raise RuntimeError("server did not start: " + err[-2000:]) from None
                time.sleep(0.1)
        try:
            yield base, proc
        finally:
            if os.environ.get("LOADGEN_DEBUG"):
                errors.seek(0)
                sys.stderr.write(errors.read()[-4000:].decode(errors="replace"))
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def idle_priority() -> None:
    """Run this process (its calling thread) only on CPU time nothing else wants (``SCHED_IDLE``)."""
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def normal_priority() -> None:
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


# How often viewers standing in for remote ones read (draining_viewers' ``remote``).
REMOTE_POLL_MS = 100


@contextlib.contextmanager
def draining_viewers(url: str, count: int, *, remote: bool = False) -> Iterator[None]:
    """``count`` viewers of ``url`` in a separate process that only consume bytes, until the block ends.

    They read as data arrives, or with ``remote`` they stand in for viewers on other machines:
    at idle priority (:func:`idle_priority`), each socket read every ``REMOTE_POLL_MS`` without
    waiting on it, so a write to them wakes no reader and they take only the CPU the server
    leaves. (A loopback write still does the receiving side's TCP work in the writer's time.)
    """
    argv = ["drain", url, str(count)] + ([str(REMOTE_POLL_MS)] if remote else [])
    drain = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.loadgen", *argv],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=idle_priority if remote else None,
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


class _Parsed:
    """What the analysis needs of one distinct message text, parsed once per load generator.

    Every viewer of a channel receives the same texts, so a process parses each distinct text
    once and each viewer's check is a walk over its own sequence of them.
    """

    __slots__ = ("kind", "from_ms", "frames", "times", "window")

    def __init__(self, raw: bytes) -> None:
        msg = json.loads(raw)
        self.kind: str = msg["type"]
        self.from_ms: int | None = msg.get("from_ms")
        self.frames: list[tuple[int, str]] = [(int(t), str(u)) for t, u in msg.get("frames", ())]
        self.times = sorted(t for t, _ in self.frames)
        program = msg.get("program") if self.kind == "program_start" else None
        self.window: tuple[int, int] | None = (program["start_ms"], program["end_ms"]) if program else None


class _Viewer:
    """One connection's received messages: (arrival time on the server clock, raw text), in order.

    A viewer on a raw socket (:func:`connect_clients` ``raw``) also keeps
    ``read_at``: when this process read each message, beside when it reached the socket.
    """

    __slots__ = ("log", "read_at", "closed", "frames", "late", "min_margin", "first_frames_at", "first_read_at")

    def __init__(self) -> None:
        self.log: list[tuple[float, bytes]] = []
        self.read_at: list[float] = []
        self.closed: int | None = None
        self.frames: dict[int, str] = {}
        self.late = 0
        self.min_margin = float("inf")
        self.first_frames_at: dict[int, float] = {}
        self.first_read_at: dict[int, float] = {}

    def analyse(self, parsed: dict[bytes, _Parsed]) -> None:
        """Replay the log: frames of the program, their margins, first arrival per re-plan.

        Parsing happens here, after the run, so the timed part only stamps arrivals. The
        re-plan that precedes ``program_start`` is kept aside until then. The join message
        (right after ``hello``) is skipped: its first pair is the frame already on screen, in
        the past by definition.
        """
        window: tuple[int, int] | None = None
        replan: tuple[float, _Parsed] | None = None
        after_hello = False
        for i, (now, raw) in enumerate(self.log):
            msg = parsed.get(raw)
            if msg is None:
                msg = parsed[raw] = _Parsed(raw)
            kind = msg.kind
            if kind == "hello":
                after_hello = True
                continue
            if kind == "program_start":
                window = msg.window
                if replan is None:
                    continue
                now, msg = replan
            elif kind != "frames":
                continue
            else:
                assert msg.from_ms is not None
                self.first_frames_at.setdefault(msg.from_ms, now)
                self.first_read_at.setdefault(msg.from_ms, self.read_at[i] if self.read_at else now)
                if after_hello:  # the join message
                    after_hello = False
                    continue
                if window is None:  # idle before the program; the last one is the re-plan
                    replan = (now, msg)
                    continue
            if msg.times:
                self.min_margin = min(self.min_margin, msg.times[0] - now)
                late = bisect_left(msg.times, now)
                self.late += late
                if late and os.environ.get("LOADGEN_DEBUG"):
                    print("late", late, round(now), msg.from_ms, len(msg.frames), file=sys.stderr)
            if window is not None:
                start, end = window
                self.frames.update((t, u) for t, u in msg.frames if start <= t < end)


class _Client(asyncio.Protocol):
    """A WebSocket viewer with the least work per message: handshake, frame headers, pongs.

    Each text message is kept as its raw bytes with the arrival time of the read that brought
    it (identical texts share one bytes object), for :meth:`_Viewer.analyse` after the run;
    ``record=False`` keeps nothing (a byte-draining viewer). Pings are answered at once, as
    a browser does (the server drops a viewer whose pong is late, with 1011). Server frames are
    unmasked and unfragmented (uvicorn does not fragment); client frames are masked with a zero key.
    """

    def __init__(
        self,
        request: bytes,
        ready: asyncio.Future[None],
        viewer: _Viewer,
        record: bool,
        texts: dict[bytes, bytes],
        offset: float,
    ) -> None:
        self.request, self.ready, self.viewer, self.record, self.texts = request, ready, viewer, record, texts
        self.offset = offset  # server clock minus monotonic ms
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport subclass
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.viewer.closed is None:
            self.viewer.closed = 1006
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes) -> None:
        self.received(data, time.monotonic() * 1000 + self.offset, None)

    def received(self, data: bytes, now: float, read_at: float | None) -> None:
        """Parse ``data``, stamping its messages ``now`` (and ``read_at``, when the two differ)."""
        buf = self.buf + data if self.buf else data
        if not self.ready.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(buf[:80].decode("latin-1")))
                return
            self.ready.set_result(None)
            buf = buf[end + 4 :]
        pos, size = 0, len(buf)
        while size - pos >= 2:
            opcode, length = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                head, length = 4, int.from_bytes(buf[pos + 2 : pos + 4], "big")
            elif length == 127:
                head, length = 10, int.from_bytes(buf[pos + 2 : pos + 10], "big")
            if size - pos < head + length:
                break
            payload = buf[pos + head : pos + head + length]
            pos += head + length
            if opcode == 1:
                if self.record:
                    self.viewer.log.append((now, self.texts.setdefault(payload, payload)))
                    if read_at is not None:
                        self.viewer.read_at.append(read_at)
            elif opcode == 9:  # ping: a masked pong with the same payload
                assert self.transport is not None and length < 126
                self.transport.write(bytes((0x8A, 0x80 | length)) + b"\0\0\0\0" + payload)
            elif opcode == 8:
                self.viewer.closed = int.from_bytes(payload[:2], "big") if length >= 2 else 1005
                assert self.transport is not None
                self.transport.close()
                return
        self.buf = buf[pos:]


# Linux's SO_TIMESTAMPNS (Python's socket module does not name it): each read carries the time
# its data reached the socket (on loopback, the moment the sender's send call queued it).
SO_TIMESTAMPNS = 35
_STAMP_SPACE = socket.CMSG_SPACE(16)


class _RawTransport:
    """A raw socket read with ``recvmsg`` for a :class:`_Client`: the kernel's arrival stamps.

    The client's messages are stamped with the time their bytes reached the socket (the last
    segment of the read: never earlier than the truth) and, apart, with when this process read them.
    Read by the event loop as data arrives, or after :meth:`unwatch`, only on :meth:`poll`.
    """

    def __init__(self, sock: socket.socket, client: _Client, loop: asyncio.AbstractEventLoop) -> None:
        self.sock, self.client, self.loop = sock, client, loop
        # The kernel's stamps are wall-clock time; the client's are on the server clock.
        self.wall_to_server = time.monotonic() * 1000 + client.offset - time.time() * 1000
        loop.add_reader(sock.fileno(), self._readable)

    def unwatch(self) -> None:
        """Read only when :meth:`poll` is called (no wake-up when data arrives)."""
        self.loop.remove_reader(self.sock.fileno())

    def poll(self) -> None:
        """Read everything the socket holds."""
        while self.sock.fileno() >= 0 and self._readable():
            pass

    def _readable(self) -> bool:
        try:
            data, ancillary, _, _ = self.sock.recvmsg(1 << 18, _STAMP_SPACE)
        except BlockingIOError:
            return False
        except OSError as exc:
            self.close()
            self.client.connection_lost(exc)
            return False
        if not data:
            self.close()
            self.client.connection_lost(None)
            return False
        read_at = time.monotonic() * 1000 + self.client.offset
        arrived = read_at
        for level, kind, stamp in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", stamp[:16])
                arrived = sec * 1000 + nsec / 1e6 + self.wall_to_server
        self.client.received(data, arrived, read_at)
        return True

    def write(self, data: bytes) -> None:
        self.sock.send(data)  # a handshake or a pong: small enough for any socket buffer

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


async def connect_clients(
    url: str, count: int, *, record: bool, offset: float = 0.0, raw: bool = False
) -> list[tuple[_Viewer, _Client]]:
    """``count`` viewers of ``url``, connected 100 at a time; recording ones once their ``hello`` came.

    ``offset`` (server clock minus this process's monotonic ms) puts the arrival stamps on the
    server clock. With ``raw`` (a :class:`_RawTransport` each) messages are stamped with the time
    they reached the socket (``SO_TIMESTAMPNS``), and when they were read in ``read_at``; without,
    when they were read.
    """
    host_port, _, path = url.removeprefix("ws://").partition("/")
    host, _, port = host_port.partition(":")
    request = (
        f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(100)
    texts: dict[bytes, bytes] = {}

    async def one() -> tuple[_Viewer, _Client]:
        async with sem:
            for attempt in range(6):
                viewer = _Viewer()
                ready: asyncio.Future[None] = loop.create_future()
                client = _Client(request, ready, viewer, record, texts, offset)
                try:
                    if raw:
                        await _connect_raw(loop, client, host, int(port))
                    else:
                        await loop.create_connection(lambda: client, host, int(port))  # noqa: B023 - called at once
                    await asyncio.wait_for(ready, 60)
                    return viewer, client
                except OSError:
                    if attempt == 5:
                        raise
                    await asyncio.sleep(0.2 * (attempt + 1))
            raise AssertionError("unreachable")

    clients = list(await asyncio.gather(*(one() for _ in range(count))))
    if record:  # ready once every viewer has joined: through another process, that takes a round trip
        while any(not viewer.log and viewer.closed is None for viewer, _ in clients):
            await asyncio.sleep(0.05)
    return clients


async def _connect_raw(loop: asyncio.AbstractEventLoop, client: _Client, host: str, port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, (host, port))
    except OSError:
        sock.close()
        raise
    client.connection_made(_RawTransport(sock, client, loop))  # type: ignore[arg-type]


async def _viewers(url: str, count: int) -> None:
    raise_fd_limit()
    loop = asyncio.get_running_loop()
    # Stamps are on the server clock: measured on a connection of its own, before the viewers.
    async with websockets.connect(url, compression=None, ping_interval=None) as ws:
        offset = await clock_offset(ws)
    clients = await connect_clients(url, count, record=True, offset=offset)
    viewers = [viewer for viewer, _ in clients]
    print(json.dumps({"ready": True, "offset": offset}), flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    cmd = json.loads(line)
    if "stop_after_s" in cmd:
        await asyncio.sleep(cmd["stop_after_s"])
    else:
        end_local = cmd["end_ms"] - offset
        await asyncio.sleep(max(0.0, (end_local - time.monotonic() * 1000) / 1000) + 1.0)
    for viewer, client in clients:
        client.record = False
        if viewer.closed is None:
            viewer.closed = 0  # still open: 0 until the end (counted below as not closed)
    parsed: dict[bytes, _Parsed] = {}
    for v in viewers:
        v.analyse(parsed)
    result: dict[str, Any] = {
        "viewers": count,
        "closed": sum(bool(v.closed) for v in viewers),
        "close_codes": sorted({v.closed for v in viewers if v.closed}),
        "late_frames": sum(v.late for v in viewers),
        "min_margin_ms": min(v.min_margin for v in viewers),
        "frame_counts": sorted({len(v.frames) for v in viewers}),
        "distinct_texts": len(parsed),
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
    for _, client in clients:
        if client.transport is not None:
            client.transport.close()
    print(json.dumps(result), flush=True)


async def _drain(url: str, count: int, poll_ms: int | None) -> None:
    """Viewers that consume bytes: read as data arrives, or every ``poll_ms`` (draining_viewers' ``remote``)."""
    raise_fd_limit()
    clients = await connect_clients(url, count, record=False, raw=poll_ms is not None)
    print(json.dumps({"ready": True}), flush=True)
    stop = asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if poll_ms is not None:
        transports = [client.transport for _, client in clients]
        for transport in transports:
            transport.unwatch()  # type: ignore[attr-defined]
        while not stop.done():
            await asyncio.sleep(poll_ms / 1000)
            for transport in transports:
                transport.poll()  # type: ignore[attr-defined]
    await stop
    closed = sum(bool(viewer.closed) for viewer, _ in clients)
    if closed:
        print(f"loadgen drain: {closed} of {count} viewers were closed by the server", file=sys.stderr)
    for _, client in clients:
        if client.transport is not None:
            client.transport.close()


def main() -> None:
    # uvloop, as the server runs: a load generator on the same cores should take as little of them
    # as it can (its per-read cost is about half the default loop's).
    if sys.argv[1] == "drain":  # python -m benchmarks.loadgen drain URL COUNT [POLL_MS]
        uvloop.run(_drain(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None))
    else:  # python -m benchmarks.loadgen URL COUNT
        uvloop.run(_viewers(sys.argv[1], int(sys.argv[2])))


async def drain_viewers(url: str, count: int) -> list[tuple[_Viewer, _Client]]:
    """``count`` cheap viewers: real TCP consumers of every message (answering pings), keeping nothing."""
    return await connect_clients(url, count, record=False)


if __name__ == "__main__":
    main()
