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

"Received" is stamped two ways, from the same reads:

- ``p50_ms`` ... ``max_ms``: when the message reached the observer's socket, stamped by the
  kernel (``SO_TIMESTAMPNS``; on loopback, the moment the server's ``send`` queued it; the
  stamp of a read's last segment, so never early). What a viewer on another machine sees,
  less the network: the server's latency.
- ``read_p50_ms`` ...: when the observer's process read it. On this machine the observers
  share the two cores with the server processes, the other viewers' reader and Redis, so this
  adds the time the observer waited for a core, which a viewer elsewhere does not.

``--load`` says how the viewers share this machine with the server:

- ``remote`` stands in for viewers on other machines, which take none of the server's CPU:
  the draining viewers read each socket every 100 ms without waiting on it (a write to them
  wakes no reader), and they, the observers and the controller run at idle priority
  (``SCHED_IDLE``: only on CPU time the server processes and Redis leave). Still more than a
  remote viewer costs: a loopback write does the receiving side's TCP work in the writer's time.
- ``local``: every viewer reads as data arrives, at the server's priority, so each write wakes
  a reader that then competes for the two cores with the server.

``both`` (the default) runs each, ``remote`` first; the last line has every figure, by load.

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

from benchmarks.loadgen import (
    clock_offset,
    connect_clients,
    draining_viewers,
    idle_priority,
    normal_priority,
    start_server,
)

EXPRESSIONS = ["happy_soft", "neutral", "concerned", "happy_big", "surprised_ah", "neutral"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, observers: int, commands: int, interval_s: float) -> dict[str, list[float]]:
    """Send ``set`` commands; return their latencies (ms) at the observers, ``arrival`` and ``read``.

    Observers stamp each read as it arrives and parse nothing until the run is over (the load
    generator's recording viewers): a WebSocket library's per-message work would queue the
    observers behind one another and add its time to what is measured.
    """
    rng = random.Random(5)
    async with websockets.connect(url, compression=None) as ws:
        offset = await clock_offset(ws)
    clients = await connect_clients(url, observers, record=True, offset=offset, raw=True)
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
    viewers = [viewer for viewer, _ in clients]
    # The two clocks agree: no message is read before it arrived.
    assert all(v.read_at[i] >= at - 0.1 for v in viewers for i, (at, _) in enumerate(v.log)), (
        "a kernel arrival stamp is later than the read: the clocks disagree"
    )
    return {
        "arrival": [v.first_frames_at.get(f, math.inf) - sent for f, sent in sent_at.items() for v in viewers],
        "read": [v.first_read_at.get(f, math.inf) - sent for f, sent in sent_at.items() for v in viewers],
    }


def figure(ms: float) -> float | None:
    """A latency for the JSON line: ``None`` stands for infinity (a missing sample)."""
    return None if math.isinf(ms) else round(ms, 2)


def figures(latencies: list[float], prefix: str = "") -> dict[str, Any]:
    return {
        f"{prefix}p50_ms": figure(percentile(latencies, 0.50)),
        f"{prefix}p90_ms": figure(percentile(latencies, 0.90)),
        f"{prefix}p99_ms": figure(percentile(latencies, 0.99)),
        f"{prefix}max_ms": figure(max(latencies)),
    }


def run(workers: int, viewers: int, observers: int, commands: int, load: str) -> dict[str, Any]:
    with start_server(workers) as (base, _proc):
        url = base.replace("http", "ws") + "/ws?channel=latency"
        with draining_viewers(url, viewers - observers, remote=load == "remote"):
            if load == "remote":
                idle_priority()  # the observers and the controller too
            try:
                latencies = uvloop.run(measure(url, observers, commands, 0.25))
            finally:
                normal_priority()  # before the next run starts its servers from this process
    arrival = latencies["arrival"]
    return {
        "workers": workers,
        "load": load,
        "viewers": viewers,
        "observers": observers,
        "commands": len(arrival) // observers,
        "samples": len(arrival),
        "missing": sum(math.isinf(ms) for ms in arrival),
        **figures(arrival),
        **figures(latencies["read"], "read_"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--observers", type=int, default=20)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1, help="also run on `serve --workers N` (with Redis)")
    parser.add_argument(
        "--load",
        choices=("remote", "local", "both"),
        default="both",
        help="viewers standing in for remote ones, or reading on the same cores (see above); both: each",
    )
    args = parser.parse_args()
    loads = ("remote", "local") if args.load == "both" else (args.load,)
    figures_by_load: dict[str, Any] = {}
    for load in loads:
        one = run(1, args.viewers, args.observers, args.commands, load)
        print(json.dumps(one), flush=True)
        if args.workers == 1:
            figures_by_load[load] = one
            continue
        several = run(args.workers, args.viewers, args.observers, args.commands, load)
        print(json.dumps(several), flush=True)
        ratios = {
            f"{name}_ratio": round(several[name] / one[name], 2) if one[name] and several[name] else None
            for name in ("p99_ms", "read_p99_ms")
        }
        figures_by_load[load] = {"one_worker": one, f"{args.workers}_workers": several, **ratios}
    print(json.dumps(figures_by_load))


if __name__ == "__main__":
    main()
