"""Fan-out: how many viewers get every frame before its presentation time (``python -m benchmarks.fanout``).

The server runs in its own process; viewers are spread over separate load-generator processes
(all on this machine, so they compete with the server for its cores). For each viewer count,
one channel plays a lip-synced timeline; a count passes when every viewer received exactly the
schedule's frames (each (time, URL) pair, shifted to the program start) before their
presentation times and no viewer was disconnected.

``--workers N`` runs it twice in the same run, on one process and on ``serve --workers N``
sharing the channel through a redis-server of its own (docs/scaling.md), and gives the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

from benchmarks.loadgen import ROOT, post, proc_usage, start_server
from benchmarks.workloads import lipsync_timeline

PROGRAM_MS = 12_000
# Viewers per load-generator process at most: each must read and answer pings in time (the
# server drops a viewer whose pong is over a second late, with 1011).
PER_PROCESS = 2500


def distinct_changes(changes: list[list[Any]]) -> list[tuple[int, str]]:
    """What a viewer keeps of a schedule: the last frame per time, repeats of a frame dropped."""
    by_time: dict[int, str] = {}
    for t, key in changes:
        by_time[t] = key
    out: list[tuple[int, str]] = []
    for t, key in by_time.items():
        if not out or out[-1][1] != key:
            out.append((t, key))
    return out


def run_step(
    base: str, server_pid: int, count: int, processes: int, expected: list[tuple[int, str]], rss_base: int
) -> dict[str, Any]:
    channel = f"bench{count}"
    url = base.replace("http", "ws") + f"/ws?channel={channel}"
    post(base, f"/channels/{channel}/stop", {})  # created first: viewers join it as they connect
    processes = max(processes, -(-count // PER_PROCESS))
    per = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
    gens = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.loadgen", url, str(n)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in per
        if n
    ]
    t_connect = time.monotonic()
    for gen in gens:
        assert gen.stdout is not None
        ready = gen.stdout.readline()
        if not ready:
            raise RuntimeError("a load generator died while connecting")
    connect_s = time.monotonic() - t_connect
    time.sleep(1.0)
    cpu1, rss1 = proc_usage(server_pid)
    gen_cpu1 = sum(proc_usage(gen.pid)[0] for gen in gens)
    t_cpu = time.monotonic()
    program = post(base, f"/channels/{channel}/play", {"timeline_id": "bench"})
    for gen in gens:
        assert gen.stdin is not None
        start = {"start_ms": program["start_ms"], "end_ms": program["end_ms"], "expect": expected}
        gen.stdin.write(json.dumps(start) + "\n")
        gen.stdin.flush()
    time.sleep(PROGRAM_MS / 1000)
    cpu_end = proc_usage(server_pid)[0]
    gen_cpu = sum(proc_usage(gen.pid)[0] for gen in gens) - gen_cpu1
    wall = time.monotonic() - t_cpu
    load = os.getloadavg()[0]
    results = []
    for gen in gens:
        assert gen.stdout is not None
        results.append(json.loads(gen.stdout.readline()))
        gen.wait(30)
    closed = sum(r["closed"] for r in results)
    close_codes = sorted({c for r in results for c in r["close_codes"]})
    late = sum(r["late_frames"] for r in results)
    counts = sorted({c for r in results for c in r["frame_counts"]})
    wrong = sum(r["wrong_viewers"] for r in results)
    min_margin = min(r["min_margin_ms"] for r in results)
    on_time = closed == 0 and late == 0 and wrong == 0
    return {
        "viewers": count,
        "on_time": on_time,
        "closed": closed,
        "close_codes": close_codes,
        "late_frames": late,
        "wrong_viewers": wrong,
        "first_difference": next((r["first_difference"] for r in results if r.get("first_difference")), None),
        "frame_counts": counts,
        "expected_frames": len(expected),
        "min_margin_ms": round(min_margin, 1),
        "connect_s": round(connect_s, 1),
        "server_cpu_cores": round((cpu_end - cpu1) / wall, 2),
        "server_rss_mb": round(rss1 / 1e6, 1),
        # Against the RSS before any viewer: Python keeps freed memory, so earlier steps'
        # connections are included and this is an upper bound.
        "server_kb_per_viewer": round((rss1 - rss_base) / 1e3 / count, 1),
        "server_cpu_us_per_viewer_s": round(1e6 * (cpu_end - cpu1) / wall / count, 2),
        "load_generators": len(gens),
        "loadgen_cpu_cores": round(gen_cpu / wall, 2),
        "load_average": round(load, 1),
    }


def run(workers: int, steps: list[int], processes: int) -> dict[str, Any]:
    """Every step on one server (``workers`` processes), up to the first that is not on time."""
    with start_server(workers, STREAMER_MAX_CHANNELS="64", STREAMER_VIEWER_QUEUE="256") as (base, proc):
        timeline = lipsync_timeline(PROGRAM_MS, seed=3)
        post(base, "/timelines?id=bench", timeline)
        with urllib.request.urlopen(base + "/timelines/bench/schedule") as r:
            schedule = json.loads(r.read())
        # What every viewer must receive: the schedule's frames, shifted to the program start.
        expected = [(t, "/frames/" + key) for t, key in distinct_changes(schedule["changes"]) if t < PROGRAM_MS]
        rows = []
        best = 0
        rss_base = proc_usage(proc.pid)[1]
        for count in steps:
            row = run_step(base, proc.pid, count, processes, expected, rss_base)
            rows.append({"workers": workers, **row})
            print(json.dumps(rows[-1]), flush=True)
            if not row["on_time"]:
                break
            best = count
    last_ok = next((r for r in reversed(rows) if r["on_time"]), rows[0])
    return {
        "workers": workers,
        "max_viewers_on_time": best,
        "first_failure": next((r["viewers"] for r in rows if not r["on_time"]), None),
        "server_cpu_us_per_viewer_s": last_ok["server_cpu_us_per_viewer_s"],
        "server_kb_per_viewer": last_ok["server_kb_per_viewer"],
        "server_cpu_cores_at_max": last_ok["server_cpu_cores"],
        "min_margin_ms_at_max": last_ok["min_margin_ms"],
        "program_ms": PROGRAM_MS,
        "frames_per_viewer": len(expected),
        "load_generators": last_ok["load_generators"],
        "load_average_at_max": last_ok["load_average"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", default="500,1000,2000,4000,6000,8000,10000")
    parser.add_argument(
        "--processes", type=int, default=2, help=f"load-generator processes (at least one per {PER_PROCESS} viewers)"
    )
    parser.add_argument("--workers", type=int, default=1, help="also run on `serve --workers N` (with Redis)")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    one = run(1, steps, args.processes)
    if args.workers == 1:
        print(json.dumps(one))
        return
    several = run(args.workers, steps, args.processes)
    ratio = several["max_viewers_on_time"] / one["max_viewers_on_time"] if one["max_viewers_on_time"] else None
    print(json.dumps({"one_worker": one, f"{args.workers}_workers": several, "max_viewers_ratio": ratio}))


if __name__ == "__main__":
    main()
