"""Live frames under attack (``python -m benchmarks.abuse``): late frames, ping p99 and peak RSS.

The server runs in its own process with a control token. A channel plays a long lip-synced
timeline to 200 viewers (a load-generator process, ``benchmarks.loadgen``), while this process
pings the server over a WebSocket and samples its memory. The measurement runs twice in the
same run: a baseline with nobody else, then with an attacker process that has no token and
drives the heavy public routes: concurrent 4.5 MB ``POST /timelines/validate``, ``GET
/timelines/{id}/schedule?fps=60`` of a one-hour timeline, and the fuzzer's hostile bodies on
every JSON route. Figures: ``late_frames`` (frames that reached a viewer after their
presentation time, on the viewer's estimate of the server clock), ``ping_p99_ms`` and
``peak_rss_mb`` of the server, its CPU use, and the attacker's requests by route and status ("closed":
the server refused early and closed the connection before the upload was sent, see issue 10 #7).

``python -m benchmarks.abuse attack BASE_URL SECONDS`` is the attacker (started by the benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import subprocess
import sys
import time
import urllib.request
from typing import Any

import httpx
import websockets

from benchmarks.latency import percentile
from benchmarks.loadgen import ROOT, proc_usage, start_server
from benchmarks.workloads import lipsync_timeline
from tests.reliability.payloads import TARGETS, random_payload

TOKEN = "abuse-bench-token"
LONG_MS = 3_600_000  # the longest timeline the server accepts
VALIDATE_BYTES = 4_500_000
# Attacker concurrency per kind of request.
VALIDATORS, SCHEDULERS, FUZZERS = 8, 4, 4


def request(base: str, method: str, path: str, body: Any = None) -> Any:
    """A controller's request, with the token; the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


# -- the attacker (its own process) ------------------------------------------------------


async def _attack(base: str, seconds: float) -> dict[str, dict[str, int]]:
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    big = json.dumps(lipsync_timeline(LONG_MS, seed=4), indent=2).encode()
    big += b" " * (VALIDATE_BYTES - len(big))
    json_type = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=VALIDATORS + SCHEDULERS + FUZZERS)
    end = time.monotonic() + seconds

    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def hammer(kind: str, send: Any) -> None:
            while time.monotonic() < end:
                try:
                    response = await send()
                    counts[kind][str(response.status_code)] += 1
                    if response.status_code == 429:
                        await asyncio.sleep(0.05)
                except httpx.TransportError:
                    # Early rejections close the connection without reading the body (a 4.5 MB
                    # upload is still being sent), so the answer is usually lost: "closed".
                    counts[kind]["closed"] += 1

        rng = random.Random(11)
        names = sorted(TARGETS)

        def fuzz() -> Any:
            target = TARGETS[rng.choice(names)]
            body = random_payload(target, rng)
            return client.request(target.method, target.path, content=body, headers=json_type)

        print(json.dumps({"ready": True}), flush=True)
        await asyncio.gather(
            *(
                hammer("validate", lambda: client.post("/timelines/validate", content=big, headers=json_type))
                for _ in range(VALIDATORS)
            ),
            *(
                hammer("schedule", lambda: client.get("/timelines/long/schedule", params={"fps": 60}))
                for _ in range(SCHEDULERS)
            ),
            *(hammer("fuzz", fuzz) for _ in range(FUZZERS)),
        )
    return {kind: dict(counter) for kind, counter in counts.items()}


def attack_main(base: str, seconds: float) -> None:
    print(json.dumps(asyncio.run(_attack(base, seconds))), flush=True)


# -- the measurement ---------------------------------------------------------------------


async def _ping_and_sample(ws_url: str, pid: int, seconds: float) -> tuple[list[float], int]:
    """Round trips (ms) of pings every 50 ms for ``seconds``, and the server's peak RSS meanwhile."""
    rtts: list[float] = []
    peak = proc_usage(pid)[1]
    async with websockets.connect(ws_url, compression=None, max_size=None) as ws:
        pending: dict[int, float] = {}

        async def read() -> None:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "pong" and message.get("id") in pending:
                    rtts.append(time.monotonic() * 1000 - pending.pop(message["id"]))

        reader = asyncio.create_task(read())
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            pending[i] = time.monotonic() * 1000
            await ws.send(json.dumps({"type": "ping", "id": i, "client_time": pending[i]}))
            i += 1
            peak = max(peak, proc_usage(pid)[1])
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        reader.cancel()
    # A ping never answered counts as the whole phase.
    rtts += [seconds * 1000] * len(pending)
    return rtts, peak


def peak_rss(pid: int) -> int:
    """The process's peak resident bytes since it started (``VmHWM``)."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def _spawn(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", *args], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def _ready(proc: subprocess.Popen[str], what: str) -> None:
    assert proc.stdout is not None
    if not proc.stdout.readline():
        raise RuntimeError(f"the {what} process died before it was ready")


def run_phase(base: str, pid: int, channel: str, viewers: int, seconds: float, attack: bool) -> dict[str, Any]:
    request(base, "POST", f"/channels/{channel}/set", {"expr": "neutral"})  # viewers only join existing channels
    ws_base = base.replace("http", "ws")
    gen = _spawn(["benchmarks.loadgen", f"{ws_base}/ws?channel={channel}", str(viewers)])
    _ready(gen, "viewer")
    attacker = None
    if attack:
        attacker = _spawn(["benchmarks.abuse", "attack", base, str(seconds)])
        _ready(attacker, "attacker")
    program = request(base, "POST", f"/channels/{channel}/play", {"timeline_id": "bench"})
    assert gen.stdin is not None and gen.stdout is not None
    gen.stdin.write(json.dumps({"start_ms": program["start_ms"], "end_ms": program["end_ms"]}) + "\n")
    gen.stdin.flush()
    cpu_before, started = proc_usage(pid)[0], time.monotonic()
    rtts, peak = asyncio.run(_ping_and_sample(f"{ws_base}/ws?channel={channel}", pid, seconds))
    cpu_cores = (proc_usage(pid)[0] - cpu_before) / (time.monotonic() - started)
    result = json.loads(gen.stdout.readline())
    gen.wait(30)
    row: dict[str, Any] = {
        "phase": "attack" if attack else "baseline",
        "late_frames": result["late_frames"],
        "closed_viewers": result["closed"],
        "min_margin_ms": round(result["min_margin_ms"], 1),
        "frame_counts": result["frame_counts"],
        "pings": len(rtts),
        "ping_p50_ms": round(percentile(rtts, 0.50), 2),
        "ping_p99_ms": round(percentile(rtts, 0.99), 2),
        "ping_max_ms": round(max(rtts), 2),
        "peak_rss_mb": round(peak / 1e6, 1),
        "server_cpu_cores": round(cpu_cores, 2),
    }
    if attacker is not None:
        assert attacker.stdout is not None
        row["attacker"] = json.loads(attacker.stdout.readline())
        attacker.wait(60)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=25.0, help="length of each phase")
    args = parser.parse_args()
    with start_server(STREAMER_TOKEN=TOKEN) as (base, proc):
        program_ms = int(args.seconds * 1000) + 2000
        request(base, "PUT", "/timelines/bench", lipsync_timeline(program_ms, seed=3))
        request(base, "PUT", "/timelines/long", lipsync_timeline(LONG_MS, seed=5))
        rows = []
        for channel, attack in (("calm", False), ("besieged", True)):
            row = run_phase(base, proc.pid, channel, args.viewers, args.seconds, attack)
            rows.append(row)
            print(json.dumps(row), flush=True)
        hwm = peak_rss(proc.pid)
    baseline, attacked = rows
    print(
        json.dumps(
            {
                "viewers": args.viewers,
                "seconds": args.seconds,
                "late_frames": attacked["late_frames"],
                "ping_p99_ms": attacked["ping_p99_ms"],
                "peak_rss_mb": attacked["peak_rss_mb"],
                "closed_viewers": attacked["closed_viewers"],
                "server_cpu_cores": attacked["server_cpu_cores"],
                "baseline_server_cpu_cores": baseline["server_cpu_cores"],
                "attacker": attacked["attacker"],
                "baseline_late_frames": baseline["late_frames"],
                "baseline_ping_p99_ms": baseline["ping_p99_ms"],
                "baseline_peak_rss_mb": baseline["peak_rss_mb"],
                "ping_p99_ratio": round(attacked["ping_p99_ms"] / max(baseline["ping_p99_ms"], 0.01), 2),
                "server_vmhwm_mb": round(hwm / 1e6, 1),
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "attack":
        attack_main(sys.argv[2], float(sys.argv[3]))
    else:
        main()
