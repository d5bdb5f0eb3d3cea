"""Stored timelines in the data folder vs on S3 (``python -m benchmarks.data_s3``): ms per store call.

The same calls on :class:`TimelineStore` (a temp folder) and :class:`S3TimelineStore` (a moto S3
server on loopback, over HTTP): ``create``, ``read_bytes``, a conditional ``put`` (``If-Match``)
and ``list`` of all of them, cold (every name and duration read) and warm (cached by ETag).
moto is a Python server, so the S3 figures are an upper bound for its round trips, not AWS's;
the ratios say what the extra round trips cost relative to the folder in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from streamer.s3 import S3Options
from streamer.storage import TimelineStore
from streamer.storage.s3data import S3Data
from streamer.storage.s3stores import S3TimelineStore

DOC = {
    "version": 1,
    "start": {"expr": "neutral", "pose": "center"},
    "tracks": {"emotion": [{"t_ms": i * 400, "expr": "neutral", "transition_ms": 200} for i in range(50)]},
}


def timed(action: Callable[[], Any], repeat: int) -> float:
    """Median ms of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def measure(store: TimelineStore, count: int) -> dict[str, float]:
    start = time.perf_counter()
    for i in range(count):
        store.create(DOC, f"t-{i:04d}", name=f"timeline {i}")
    create_ms = (time.perf_counter() - start) * 1000 / count
    version = store.put("t-0000", DOC)[2]
    figures = {
        "create_ms": create_ms,
        "read_ms": timed(lambda: store.read_bytes("t-0001"), 20),
        "put_if_match_ms": timed(lambda: store.put("t-0000", DOC, if_match=version), 20),
    }
    start = time.perf_counter()
    store.list()
    figures["list_cold_ms"] = (time.perf_counter() - start) * 1000
    figures["list_warm_ms"] = timed(store.list, 5)
    return {k: round(v, 2) for k, v in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timelines", type=int, default=100, help="timelines stored, then listed")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    data = S3Data(S3Options(bucket="bench-data", prefix="data", endpoint_url=f"http://{host}:{port}"))
    try:
        import boto3

        boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1").create_bucket(
            Bucket="bench-data"
        )
        data.open()
        with tempfile.TemporaryDirectory() as tmp:
            folder = measure(TimelineStore(Path(tmp)), args.timelines)
        s3 = measure(S3TimelineStore(data), args.timelines)
    finally:
        data.close()
        server.stop()
    for name, figures in (("folder", folder), ("s3 (moto)", s3)):
        print(f"{name:>10}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    ratios = {f"{k}_ratio": round(s3[k] / folder[k], 1) if folder[k] else None for k in folder}
    print(json.dumps({"timelines": args.timelines, "folder": folder, "s3_moto": s3, **ratios}))


if __name__ == "__main__":
    main()
