"""Command latency: a controller's ``set`` to the first frames message at every viewer.

``python -m benchmarks.latency``: the server in its own process, 1,000 viewers in separate
load-generator processes, a controller in this process sending ``set`` commands a few times a
second. Latency is measured per (command, viewer) on the server clock, from the moment the
controller sent the command to the moment that viewer received the re-planned frames.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from typing import Any

import websockets

from benchmarks.loadgen import ROOT, clock_offset, start_server

EXPRESSIONS = ["happy_soft", "neutral", "concerned", "happy_big", "surprised_ah", "neutral"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def control(url: str, commands: int, interval_s: float) -> list[tuple[float, int]]:
    """Send ``set`` commands; return (send time on the server clock, from_ms) for each."""
    rng = random.Random(5)
    out: list[tuple[float, int]] = []
    async with websockets.connect(url + "&role=controller", compression=None) as ws:
        offset = await clock_offset(ws)
        for i in range(commands):
            sent = time.monotonic() * 1000 + offset
            await ws.send(json.dumps({"type": "set", "id": i, "expr": rng.choice(EXPRESSIONS), "transition_ms": 200}))
            while True:
                msg = json.loads(await ws.recv())
                if msg["type"] == "ack" and msg["id"] == i:
                    break
                if msg["type"] == "error":
                    raise RuntimeError(msg["message"])
            out.append((sent, msg["result"]["t_ms"] - 200))  # t_ms = from_ms + transition
            await asyncio.sleep(interval_s * rng.uniform(0.5, 1.5))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    with start_server() as (base, _proc):
        url = base.replace("http", "ws") + "/ws?channel=latency"
        per = [args.viewers // args.processes] * args.processes
        per[0] += args.viewers - sum(per)
        gens = [
            subprocess.Popen(
                [sys.executable, "-m", "benchmarks.loadgen", url, str(n)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in per
        ]
        for gen in gens:
            assert gen.stdout is not None
            if not gen.stdout.readline():
                raise RuntimeError("a load generator died while connecting")
        time.sleep(1.0)
        duration_ms = int(args.commands * 0.25 * 1000) + 3000
        for gen in gens:
            assert gen.stdin is not None
            gen.stdin.write(
                json.dumps(
                    {"start_ms": 0, "end_ms": 0, "report_first_frames": True, "stop_after_s": duration_ms / 1000}
                )
                + "\n"
            )
            gen.stdin.flush()
        sends = asyncio.run(control(url, args.commands, 0.25))
        results: list[dict[str, Any]] = []
        for gen in gens:
            assert gen.stdout is not None
            results.append(json.loads(gen.stdout.readline()))
            gen.wait(30)
    latencies: list[float] = []
    missing = 0
    for sent, from_ms in sends:
        for r in results:
            got = r["first_frames"].get(str(from_ms))
            if got is None:
                missing += r["viewers"]
                continue
            missing += r["viewers"] - len(got)
            latencies += [at - sent for at in got]
    figures = {
        "viewers": args.viewers,
        "commands": len(sends),
        "samples": len(latencies),
        "missing": missing,
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p90_ms": round(percentile(latencies, 0.90), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
