"""The floor under a broadcast: bare writes of one message to N loopback sockets, from 1 or 2 processes.

``python -m benchmarks.sendfloor``: no server, no WebSocket, no Redis. Each sender process is a
uvloop server holding its share of ``--viewers`` connections; a burst writes the same bytes to
every one of them (``transport.write``, the call ``server/fanout.py`` makes for each viewer) and
times the loop. One reader process, like the latency benchmark's draining viewers, reads every
connection as data arrives. Bursts come every 100 ms, in step across the senders.

This is what ``benchmarks.latency`` cannot beat on the same machine: the time to the last viewer
of a broadcast is at least this burst, plus the command's way to the owner and, with several
workers, the Redis hop. Figures are the burst's p50 / p90 / p99 in ms, per sender process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import selectors
import socket
import time
from multiprocessing.synchronize import Barrier
from typing import Any

import uvloop

from benchmarks.latency import percentile
from benchmarks.loadgen import raise_fd_limit


def _sender(count: int, size: int, bursts: int, ports: Any, barrier: Barrier, results: Any) -> None:
    async def main() -> None:
        transports: list[asyncio.Transport] = []

        class Accept(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                transports.append(transport)  # type: ignore[arg-type]  # uvloop's is not a subclass

        server = await asyncio.get_running_loop().create_server(Accept, "127.0.0.1", 0, backlog=4096)
        ports.put(server.sockets[0].getsockname()[1])
        while len(transports) < count:
            await asyncio.sleep(0.05)
        data, times = b"x" * size, []
        for _ in range(bursts):
            barrier.wait()  # the senders burst together, as workers do for one broadcast
            started = time.perf_counter()
            for transport in transports:
                transport.write(data)
            times.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.1)
        results.put(times)

    raise_fd_limit()
    uvloop.run(main())


def _reader(ports: list[int], count: int) -> None:
    raise_fd_limit()
    selector = selectors.EpollSelector()
    for port in ports:
        for _ in range(count):
            conn = socket.create_connection(("127.0.0.1", port))
            conn.setblocking(False)
            selector.register(conn, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            with contextlib.suppress(BlockingIOError):
                key.fileobj.recv(65536)  # type: ignore[union-attr]


def run(processes: int, viewers: int, size: int, bursts: int) -> dict[str, Any]:
    count = viewers // processes
    ports: Any = mp.Queue()
    results: Any = mp.Queue()
    barrier = mp.Barrier(processes)
    args = (count, size, bursts, ports, barrier, results)
    senders = [mp.Process(target=_sender, args=args) for _ in range(processes)]
    for proc in senders:
        proc.start()
    reader = mp.Process(target=_reader, args=([ports.get(timeout=30) for _ in senders], count), daemon=True)
    reader.start()
    times = [results.get(timeout=300) for _ in senders]
    for proc in senders:
        proc.join(10)
    reader.kill()
    flat = [ms for each in times for ms in each]
    return {
        "processes": processes,
        "viewers": viewers,
        "per_process": count,
        "bytes": size,
        "bursts": bursts,
        "p50_ms": round(percentile(flat, 0.5), 2),
        "p90_ms": round(percentile(flat, 0.9), 2),
        "p99_ms": round(percentile(flat, 0.99), 2),
        "us_per_write_p50": round(percentile(flat, 0.5) * 1000 / count, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--bytes", type=int, default=1200, help="message size (a re-plan's frames and state: ~1.2 kB)")
    parser.add_argument("--bursts", type=int, default=100)
    args = parser.parse_args()
    one = run(1, args.viewers, args.bytes, args.bursts)
    print(json.dumps(one), flush=True)
    two = run(2, args.viewers, args.bytes, args.bursts)
    print(json.dumps(two), flush=True)
    print(json.dumps({"one_process": one, "two_processes": two, "p99_ratio": round(two["p99_ms"] / one["p99_ms"], 2)}))


if __name__ == "__main__":
    main()
