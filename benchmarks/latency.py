"""Command latency: a controller's ``set`` to the first frames message at a viewer.

``python -m benchmarks.latency``: the server in its own process with 1,000 viewers connected.
Most of them run in a separate process and only consume bytes (real TCP readers with no
parsing cost, so the load generator does not compete with the server for the two cores);
``--observers`` of them, in this process, stamp each message's arrival. A controller sends
``set`` commands a few times a second. Latency is measured per (command, observer) on the
server clock, from the moment the controller sent the command to the moment that observer
received the re-planned frames; observers sit at random places in the broadcast order. An
observer that never received a command's frames counts as infinitely late (``missing``), so
it pushes the percentiles up instead of leaving them; ``null`` in the figures is infinity.

``--workers N`` runs it twice in the same run, on one process and on ``serve --workers N``
sharing the channel through a redis-server of its own (docs/scaling.md), and gives the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
from typing import Any

import uvloop
import websockets

from benchmarks.loadgen import clock_offset, connect_clients, draining_viewers, start_server

EXPRESSIONS = ["happy_soft", "neutral", "concerned", "happy_big", "surprised_ah", "neutral"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, observers: int, commands: int, interval_s: float) -> dict[int, list[float]]:
    """Send ``set`` commands; return each command's latencies (ms) at the observers.

    Observers stamp each read as it arrives and parse nothing until the run is over (the load
    generator's recording viewers): a WebSocket library's per-message work would queue the
    observers behind one another and add its time to what is measured.
    """
    rng = random.Random(5)
    async with websockets.connect(url, compression=None) as ws:
        offset = await clock_offset(ws)
    clients = await connect_clients(url, observers, record=True, offset=offset)
    sent_at: dict[int, float] = {}
    async with websockets.connect(url + "&role=controller", compression=None) as ctl:
        await asyncio.sleep(2.0)  # viewers waiting for the channel (in any process) join it first
        for i in range(commands):
            sent = time.monotonic() * 1000 + offset
            await ctl.send(json.dumps({"type": "set", "id": i, "expr": rng.choice(EXPRESSIONS), "transition_ms": 200}))
            while True:
                msg = json.loads(await ctl.recv())
                if msg["type"] == "ack" and msg["id"] == i:
                    break
                if msg["type"] == "error":
                    raise RuntimeError(msg["message"])
            sent_at[msg["result"]["t_ms"] - 200] = sent  # t_ms = from_ms + transition
            await asyncio.sleep(interval_s * rng.uniform(0.5, 1.5))
    await asyncio.sleep(0.5)
    parsed: dict[bytes, Any] = {}
    for viewer, client in clients:
        viewer.analyse(parsed)
        assert client.transport is not None
        client.transport.close()
    # An observer that never saw a command's frames counts as infinitely late.
    return {
        i: [viewer.first_frames_at[f] - sent if f in viewer.first_frames_at else math.inf for viewer, _ in clients]
        for i, (f, sent) in enumerate(sent_at.items())
    }


def figure(ms: float) -> float | None:
    """A latency for the JSON line: ``None`` stands for infinity (a missing sample)."""
    return None if math.isinf(ms) else round(ms, 2)


def run(workers: int, viewers: int, observers: int, commands: int) -> dict[str, Any]:
    with start_server(workers) as (base, _proc):
        url = base.replace("http", "ws") + "/ws?channel=latency"
        with draining_viewers(url, viewers - observers):
            per_command = uvloop.run(measure(url, observers, commands, 0.25))
    latencies = [ms for values in per_command.values() for ms in values]
    return {
        "workers": workers,
        "viewers": viewers,
        "observers": observers,
        "commands": len(per_command),
        "samples": len(latencies),
        "missing": sum(math.isinf(ms) for ms in latencies),
        "p50_ms": figure(percentile(latencies, 0.50)),
        "p90_ms": figure(percentile(latencies, 0.90)),
        "p99_ms": figure(percentile(latencies, 0.99)),
        "max_ms": figure(max(latencies)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--observers", type=int, default=20)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1, help="also run on `serve --workers N` (with Redis)")
    args = parser.parse_args()
    one = run(1, args.viewers, args.observers, args.commands)
    if args.workers == 1:
        print(json.dumps(one))
        return
    print(json.dumps(one), flush=True)
    several = run(args.workers, args.viewers, args.observers, args.commands)
    print(json.dumps(several), flush=True)
    p99_one, p99_several = one["p99_ms"], several["p99_ms"]
    ratio = p99_several / p99_one if p99_one and p99_several else None
    print(json.dumps({"one_worker": one, f"{args.workers}_workers": several, "p99_ratio": ratio}))


if __name__ == "__main__":
    main()
