"""Frames from S3 under load: store GETs, cache hits, first frame and late frames, prefetch on and off.

``python -m benchmarks.s3``: a 1024x1536 demo rig (drawn once into ``--rig``) is uploaded with
``streamer upload`` into a moto S3 server (its own process); the app (its own process, via
``benchmarks.loadgen.start_server``) reads it through a TCP proxy (its own process) that adds
a latency to every request and counts the object GETs that pass, as S3 would see them. Two
scenarios (``--latency-ms 30,150``): S3 in the same region, and in another one. In each, one
channel plays a ``--duration-s`` lip-synced timeline to 1,000 WebSocket viewers: 999 cheap
byte-draining viewers (loadgen's ``drain``) and one observer that stands for every viewer's
frame loading: for each new frame URL it receives, it issues ``--fetchers`` (default 4)
concurrent GETs at once (as the browser clients preload on receipt), from a pool of 64 HTTP
connections. A frame is late when none of its GETs completed before its presentation time.
``first_frame_ms`` is a probe GET of the re-plan's first new frame, on its own connection, sent
as soon as the re-plan arrives and before the pool's GETs for that message. 1,000 viewers each
fetching every frame (~1.5 M PNG downloads a minute) would measure this machine's loopback, not
the cache, hence the pool. Each scenario is repeated with prefetch off (the baseline).

Figures, per run: ``store_gets`` (object GETs that reached the proxy during the program) and
``store_keys`` (distinct keys among them) vs ``unique_frames`` (distinct keys pushed during it
that were not on screen before); ``hit_ratio``: the app cache's hits over the observer's frame
requests from the play command to the program's end (``hit_ratio_after_1s`` leaves out the
first second, where the re-plan's first frames are fetched); ``first_frame_ms`` (play command
sent -> first new frame of the program served); ``late_frames``. The last line is one JSON
object: ``scenarios``, each with the prefetch run's figures and the baseline under ``baseline``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import websockets

from benchmarks.loadgen import clock_offset, free_port, post, raise_fd_limit, start_server
from benchmarks.workloads import lipsync_timeline

DEFAULT_RIG = Path("/tmp/streamer-s3-bench/rig-1024x1536")


# -- a latency-adding TCP proxy (runs in its own process) ------------------------------------


_GET = re.compile(rb"(?:^|\r\n)GET (\S+) HTTP/1\.[01]\r\n")


async def _proxy(listen_port: int, upstream_port: int, latency_s: float) -> None:
    """Forward to the S3 server, adding ``latency_s`` to each request; count the GETs that pass.

    A line on stdin asks for the counts: one JSON line back, ``{path: GETs}`` for every object
    GET forwarded so far. They are counted here, where S3 would see them, not by the app.
    """
    gets: dict[str, int] = {}

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, count: bool) -> None:
        try:
            while chunk := await reader.read(65536):
                if count:
                    for path in _GET.findall(chunk):
                        key = path.split(b"?", 1)[0].decode()
                        gets[key] = gets.get(key, 0) + 1
                if delay:
                    await asyncio.sleep(delay)  # each client chunk is a request here (GETs, no bodies)
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(pipe(reader, up_writer, latency_s, True), pipe(up_reader, writer, 0.0, False))

    async def answer() -> None:
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, sys.stdin.readline):
            print(json.dumps(gets), flush=True)

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    print("ready", flush=True)
    async with server:
        await asyncio.gather(server.serve_forever(), answer())


class ProxyCounts:
    """Asks the proxy process for its GET counts."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def __call__(self) -> dict[str, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))


def frame_gets(counts: dict[str, int]) -> dict[str, int]:
    return {path: n for path, n in counts.items() if path.endswith(".png")}


@contextlib.contextmanager
def process(args: list[str], ready: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if ready not in line:
            raise RuntimeError(f"{args[:3]} did not start: {line!r}")
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def wait_for_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# -- one run ---------------------------------------------------------------------------------


def metrics(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(base + "/metrics.json", timeout=10) as r:
        return dict(json.loads(r.read())["frames"])


async def observe(base: str, timeline_id: str, duration_ms: int, fetchers: int, proxy: ProxyCounts) -> dict[str, Any]:
    ws_url = base.replace("http://", "ws://") + "/ws?channel=main"
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with (
        websockets.connect(ws_url, max_size=2**22, compression=None) as ws,
        httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http,
        httpx.AsyncClient(base_url=base, timeout=30) as probe,
    ):
        offset = await clock_offset(ws)

        def now() -> float:  # the server clock, here
            return time.monotonic() * 1000 + offset

        fetched: dict[str, float | None] = {}  # url -> server time its first GET completed
        pushed_before: set[str] = set()
        pushed_after: dict[int, str] = {}  # t -> url, frames pushed after play
        tasks: list[asyncio.Task[None]] = []
        playing = False
        replan_at: list[float] = []  # when the re-plan for the play command arrived
        probed: list[float] = []  # when the first new frame of the re-plan was served
        errors = 0

        async def load(url: str) -> None:
            nonlocal errors

            async def one() -> None:
                nonlocal errors
                r = await http.get(url)
                if r.status_code != 200:
                    errors += 1
                elif fetched.get(url) is None:
                    fetched[url] = now()

            await asyncio.gather(*(one() for _ in range(fetchers)), return_exceptions=True)

        async def probe_first(url: str) -> None:
            r = await probe.get(url)
            if r.status_code == 200:
                probed.append(now())

        async def receive(message: dict[str, Any]) -> None:
            if message["type"] != "frames":
                return
            if playing and not replan_at:
                replan_at.append(now())
                first = next((u for _, u in message["frames"] if u not in pushed_before), None)
                if first is not None:  # on its own connection, before the pool's burst for this message
                    await probe_first(first)
            for t, url in message["frames"]:
                (pushed_after.__setitem__(t, url) if playing else pushed_before.add(url))
                if url not in fetched:
                    fetched[url] = None
                    tasks.append(asyncio.create_task(load(url)))

        async def reader(until_ms: list[float]) -> None:
            while now() < until_ms[0]:
                try:
                    raw = await asyncio.wait_for(ws.recv(), max(0.01, (until_ms[0] - now()) / 1000))
                except TimeoutError:
                    continue
                await receive(json.loads(raw))

        await reader([now() + 3000])  # join, idle frames fetched and cached
        await asyncio.gather(*tasks)
        before = await asyncio.to_thread(metrics, base)
        s3_before = frame_gets(await asyncio.to_thread(proxy))
        playing = True
        until = [now() + 3_600_000.0]
        read = asyncio.create_task(reader(until))
        sent = now()
        program = await asyncio.to_thread(post, base, "/channels/main/play", {"timeline_id": timeline_id})
        answered = now()
        end_ms = program["end_ms"]
        until[0] = end_ms + 500
        one_second = asyncio.create_task(asyncio.sleep(max(0.0, (sent + 1000 - now()) / 1000)))
        await one_second
        after_1s = await asyncio.to_thread(metrics, base)
        await read
        await asyncio.gather(*tasks)
        after = await asyncio.to_thread(metrics, base)
        s3_after = frame_gets(await asyncio.to_thread(proxy))

    program_frames = {t: u for t, u in pushed_after.items() if t < end_ms}
    new_urls = [u for _, u in sorted(program_frames.items()) if u not in pushed_before]

    def is_late(t: int, url: str) -> bool:
        done = fetched.get(url)
        return done is None or done > t

    late = sum(1 for t, u in program_frames.items() if is_late(t, u))
    first_done = probed[0] if probed else None
    s3_gets = {path: n - s3_before.get(path, 0) for path, n in s3_after.items() if n > s3_before.get(path, 0)}
    return {
        "store_gets": sum(s3_gets.values()),  # counted at the proxy that stands for S3
        "store_keys": len(s3_gets),
        "unique_frames": len(set(new_urls)),
        "frame_changes": len(program_frames),
        "hit_ratio": hit_ratio(before, after),
        "hit_ratio_after_1s": hit_ratio(after_1s, after),
        "first_frame_ms": round(first_done - sent, 1) if first_done is not None else None,
        "late_frames": late,
        "play_answered_ms": round(answered - sent, 1),
        "replan_received_ms": round(replan_at[0] - sent, 1) if replan_at else None,
        "lead_ms": (min(program_frames) - sent) if program_frames else None,
        "duplicate_gets": sum(s3_gets.values()) - len(s3_gets),
        "app_store_gets": after["store_gets"] - before["store_gets"],  # the app's own count, to cross-check
        "http_errors": errors,
        "requests": after["hits"] + after["misses"] - before["hits"] - before["misses"],
        "store_errors": after["errors"] - before["errors"],
        "cache_mb": round(after["bytes"] / 1e6, 1),
    }


def hit_ratio(start: dict[str, Any], end: dict[str, Any]) -> float:
    """Cache hits over the app's frame requests (the observer's GETs) between two metrics reads."""
    hits = end["hits"] - start["hits"]
    asked = hits + end["misses"] - start["misses"]
    return round(hits / asked, 4) if asked else 0.0


def run(args: argparse.Namespace, proxy_url: str, proxy: ProxyCounts, bucket: str, prefetch: bool) -> dict[str, Any]:
    env = {
        "USE_S3": "true",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": proxy_url,
        "STREAMER_PREFETCH": "true" if prefetch else "false",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
    with start_server(**env) as (base, _proc):
        created = post(base, "/timelines", lipsync_timeline(args.duration_s * 1000, seed=3))
        ws_url = base.replace("http://", "ws://") + "/ws?channel=main"
        drain = [sys.executable, "-m", "benchmarks.loadgen", "drain", ws_url, str(args.viewers - 1)]
        with process(drain, "ready") as viewers:
            figures = asyncio.run(observe(base, created["id"], args.duration_s * 1000, args.fetchers, proxy))
            assert viewers.stdin is not None
            viewers.stdin.write("\n")
            viewers.stdin.flush()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rig", type=Path, default=DEFAULT_RIG, help="rig folder (drawn if missing)")
    parser.add_argument("--size", default="1024x1536", help="size of a rig drawn for this run")
    parser.add_argument("--duration-s", type=int, default=60)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--fetchers", type=int, default=4, help="concurrent GETs per new frame URL")
    parser.add_argument(
        "--latency-ms",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[30.0, 150.0],
        help="added per S3 request; a comma list runs one scenario each (30 ms: same region, 150 ms: another)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the prefetch-off run")
    parser.add_argument("--proxy", nargs=3, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.proxy:
        listen, upstream, latency_ms = args.proxy
        asyncio.run(_proxy(int(listen), int(upstream), latency_ms / 1000))
        return
    raise_fd_limit()
    if not (args.rig / "rig.json").is_file():
        from streamer.demo import write_demo_rig

        w, h = (int(v) for v in args.size.split("x"))
        print(f"drawing a {w}x{h} demo rig into {args.rig} ...", file=sys.stderr)
        write_demo_rig(args.rig, size=(w, h))
    from streamer.cli import main as cli_main
    from streamer.s3 import S3Options, s3_client

    moto_port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(moto_port)
        moto_url = f"http://127.0.0.1:{moto_port}"
        bucket = f"streamer-bench-{uuid.uuid4().hex[:10]}"
        import os

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

        async def create() -> None:
            async with s3_client(S3Options(bucket=bucket, endpoint_url=moto_url)) as client:
                await client.create_bucket(Bucket=bucket)

        asyncio.run(create())
        started = time.monotonic()
        code = cli_main(["upload", str(args.rig), "--bucket", bucket, "--endpoint-url", moto_url, "-q"])
        upload_s = time.monotonic() - started
        if code != 0:
            raise SystemExit(f"upload failed ({code})")
        print(f"uploaded {args.rig} in {upload_s:.1f} s", file=sys.stderr)
        scenarios = []
        for latency_ms in args.latency_ms:
            port = free_port()
            proxy_args = [sys.executable, "-m", "benchmarks.s3", "--proxy", str(port), str(moto_port), str(latency_ms)]
            with process(proxy_args, "ready") as proxy_proc:
                proxy_url, proxy = f"http://127.0.0.1:{port}", ProxyCounts(proxy_proc)
                scenario: dict[str, Any] = {"latency_ms": latency_ms}
                scenario.update(run(args, proxy_url, proxy, bucket, prefetch=True))
                print(f"{latency_ms} ms, prefetch on: " + json.dumps(scenario), file=sys.stderr)
                if not args.no_baseline:
                    baseline = run(args, proxy_url, proxy, bucket, prefetch=False)
                    print(f"{latency_ms} ms, prefetch off: " + json.dumps(baseline), file=sys.stderr)
                    scenario["baseline"] = baseline
                scenarios.append(scenario)
    finally:
        moto.terminate()
        moto.wait(10)
    rig_mb = sum(p.stat().st_size for p in args.rig.rglob("*.png")) / 1e6
    figures = {
        "scenarios": scenarios,
        "viewers": args.viewers,
        "fetchers_per_frame": args.fetchers,
        "duration_s": args.duration_s,
        "rig": str(args.rig),
        "rig_mb": round(rig_mb, 1),
        "upload_s": round(upload_s, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
