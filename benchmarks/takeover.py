"""Takeover: how long a channel is without an owner after its process is killed (``python -m benchmarks.takeover``).

Two ``streamer serve`` processes share channels through a redis-server of their own. Each round,
one process starts a channel playing a long program; a viewer watches it through the other
process; the first process is killed (SIGKILL) and restarted. Figures: the time from the kill
until the survivor runs the channel (its ``/health``), the viewer's longest silence, and the
frames it got late (after their presentation time) while nobody ran the channel. The lease
expiry (1.5 s) plus one watch interval (0.25 s) bounds the takeover.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
import urllib.request
from typing import Any

import websockets

from benchmarks.loadgen import clock_offset, post, redis_server, start_server
from benchmarks.workloads import lipsync_timeline


def runs(base: str) -> list[str]:
    with urllib.request.urlopen(base + "/health", timeout=5) as r:
        return list(json.loads(r.read())["redis"]["runs"])


async def one_round(owner: Any, survivor: str, channel: str) -> dict[str, Any]:
    base, proc = owner
    post(base, f"/channels/{channel}/play", {"timeline": lipsync_timeline(20_000, seed=7)})
    url = survivor.replace("http", "ws") + f"/ws?channel={channel}"
    async with websockets.connect(url, compression=None) as ws:
        offset = await clock_offset(ws)
        arrivals: list[tuple[float, dict[str, Any]]] = []

        async def read() -> None:
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "frames":
                    arrivals.append((time.monotonic() * 1000 + offset, message))

        reader = asyncio.create_task(read())
        await asyncio.sleep(2.0)
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        while channel not in await asyncio.to_thread(runs, survivor):
            await asyncio.sleep(0.02)
        takeover_s = time.monotonic() - killed
        await asyncio.sleep(3.0)
        reader.cancel()
    killed_ms = killed * 1000 + offset
    times = [killed_ms] + [at for at, _ in arrivals if at > killed_ms]
    late = sum(1 for at, m in arrivals if at > killed_ms for t, _ in m["frames"] if t > m["from_ms"] and t < at)
    return {
        "takeover_s": round(takeover_s, 3),
        "longest_silence_s": round(max(b - a for a, b in zip(times, times[1:], strict=False)) / 1000, 3),
        "late_frames": late,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with redis_server() as redis_url, start_server(1, REDIS_URL=redis_url) as (survivor, _):
        for i in range(args.rounds):
            with contextlib.ExitStack() as stack:
                owner = stack.enter_context(start_server(1, REDIS_URL=redis_url))
                rows.append(asyncio.run(one_round(owner, survivor, f"takeover{i}")))
                print(json.dumps(rows[-1]), flush=True)
    takeovers = [r["takeover_s"] for r in rows]
    print(
        json.dumps(
            {
                "rounds": len(rows),
                "takeover_s_max": max(takeovers),
                "takeover_s_mean": round(sum(takeovers) / len(takeovers), 3),
                "longest_silence_s_max": max(r["longest_silence_s"] for r in rows),
                "late_frames_total": sum(r["late_frames"] for r in rows),
            }
        )
    )


if __name__ == "__main__":
    main()
