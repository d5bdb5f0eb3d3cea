"""Timeline parse and resolve speed on dense lip-sync timelines of 1, 10 and 60 minutes.

``python -m benchmarks.resolve``: uses the demo rig from ``frames/`` when ``frames/rig.json``
exists, else the same rig built in memory from the demo rig's spec (every endpoint, every base
path at every pose, neutral head moves from center; no files are read). For each duration:

- parse: JSON text -> validated :class:`Timeline` (``loads`` + ``parse_timeline``);
- resolve: :class:`Timeline` -> :class:`Schedule` with the rig's router already warm (best of
  5 runs for 1 and 10 minutes, best of 3 for 60); a cold 10 minute resolve on a fresh rig
  (routes computed on first use) is reported too.

Prints a table, then one JSON object of figures as the last line.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.workloads import lipsync_timeline
from streamer.core.resolve import resolve
from streamer.core.rig import Rig, RigListing, build_rig, parse_rig_config
from streamer.core.schedule import Schedule
from streamer.core.timeline import Timeline, loads, parse_timeline

ROOT = Path(__file__).resolve().parent.parent
FRAMES = ROOT / "frames"
MINUTES = (1, 10, 60)
TARGET_MS_10MIN = 60.0

T = TypeVar("T")


def load_bench_rig() -> tuple[Rig, str]:
    """The demo rig from ``frames/``, or the same layout built in memory; and which it is."""
    if (FRAMES / "rig.json").is_file():
        from streamer.rigload import load_rig

        return load_rig(FRAMES), "frames"
    return in_memory_rig(), "in_memory"


def in_memory_rig() -> Rig:
    """The demo rig built from its plan, no files read: what ``frames/`` would hold."""
    from streamer.demo.build import plan_rig

    plan = plan_rig()
    documents = dict(plan.documents)
    manifests = {key.split("/")[1]: doc for key, doc in documents.items() if key.endswith("/manifest.json")}
    files = dict.fromkeys((job.key for job in plan.frames), 1)
    return build_rig(parse_rig_config(documents["rig.json"]), RigListing(files=files, manifests=manifests))


def best_ms(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """The fastest of ``runs`` calls of ``fn`` in milliseconds, and its result."""
    best = float("inf")
    result: T | None = None
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, (time.perf_counter() - start) * 1000)
    assert result is not None
    return best, result


def item_count(timeline: Timeline) -> int:
    return sum(map(len, (timeline.emotion, timeline.speech, timeline.pose, timeline.words, timeline.blinks)))


def measure(rig: Rig, minutes: int, seed: int) -> dict[str, Any]:
    duration_ms = minutes * 60_000
    text = json.dumps(lipsync_timeline(duration_ms, seed))
    runs = 3 if minutes >= 60 else 5
    parse_ms, timeline = best_ms(lambda: parse_timeline(loads(text)), runs)
    resolve(timeline, rig)  # warm the rig's router (cached per rig, as in a running server)
    resolve_ms, schedule = best_ms(lambda: resolve(timeline, rig), runs)
    assert isinstance(schedule, Schedule) and schedule.duration_ms == duration_ms
    items = item_count(timeline)
    return {
        "minutes": minutes,
        "runs": runs,
        "json_kb": len(text) / 1024,
        "items": items,
        "changes": len(schedule.changes),
        "parse_ms": parse_ms,
        "resolve_ms": resolve_ms,
        "ms_per_1000_items": resolve_ms * 1000 / items,
        "realtime_factor": duration_ms / resolve_ms,
    }


def cold_resolve_ms(minutes: int, seed: int) -> float:
    """One resolve on a freshly built rig, so every route is computed on first use."""
    rig = load_bench_rig()[0]
    timeline = parse_timeline(lipsync_timeline(minutes * 60_000, seed))
    gc.collect()
    start = time.perf_counter()
    resolve(timeline, rig)
    return (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    args = parser.parse_args(argv)

    rig, source = load_bench_rig()
    where = f"loaded from {FRAMES}" if source == "frames" else "built in memory from streamer.demo.spec (no frames/)"
    print(f"rig {rig.config.name!r} {where}: {len(rig.endpoints)} endpoints, {len(rig.sequences)} sequences")
    print(f"python {sys.version.split()[0]}; workload: benchmarks.workloads.lipsync_timeline(seed={args.seed})")
    rows = [measure(rig, minutes, args.seed) for minutes in MINUTES]
    cold_ms = cold_resolve_ms(10, args.seed)

    columns = [
        ("timeline", 8),
        ("json", 8),
        ("items", 7),
        ("changes", 8),
        ("parse", 9),
        ("resolve", 9),
        ("ms/1k items", 11),
        ("realtime", 9),
    ]
    header = " ".join(f"{name:>{width}}" for name, width in columns)
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['minutes']:>5} min {r['json_kb']:>6.0f}kB {r['items']:>7} {r['changes']:>8}"
            f" {r['parse_ms']:>7.1f}ms {r['resolve_ms']:>7.1f}ms {r['ms_per_1000_items']:>11.3f}"
            f" {r['realtime_factor']:>8.0f}x"
        )
    by_min = {r["minutes"]: r for r in rows}
    ten = by_min[10]
    verdict = "ok" if ten["resolve_ms"] <= TARGET_MS_10MIN else "OVER TARGET"
    print(f"\n10 min resolve: {ten['resolve_ms']:.1f} ms (target <= {TARGET_MS_10MIN:.0f} ms): {verdict}")
    print(f"10 min resolve on a fresh rig (routes computed on first use): {cold_ms:.1f} ms")

    figures: dict[str, Any] = {
        "rig": source,
        "resolve_ms_1min": round(by_min[1]["resolve_ms"], 2),
        "resolve_ms_10min": round(ten["resolve_ms"], 2),
        "resolve_ms_60min": round(by_min[60]["resolve_ms"], 2),
        "resolve_cold_ms_10min": round(cold_ms, 2),
        "realtime_factor": round(ten["realtime_factor"]),
        "parse_ms_1min": round(by_min[1]["parse_ms"], 2),
        "parse_ms_10min": round(ten["parse_ms"], 2),
        "parse_ms_60min": round(by_min[60]["parse_ms"], 2),
        "items_10min": ten["items"],
        "changes_10min": ten["changes"],
    }
    for minutes in MINUTES:
        figures[f"us_per_item_{minutes}min"] = round(by_min[minutes]["resolve_ms"] * 1000 / by_min[minutes]["items"], 3)
    figures["target_met"] = ten["resolve_ms"] <= TARGET_MS_10MIN
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
