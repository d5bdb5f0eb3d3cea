"""Export speed: our in-process PyAV renderer against the old PNG-folder + ffmpeg CLI method.

``python -m benchmarks.export``: a 60 s lip-synced timeline (``lipsync_timeline(60000)``) with
60 s of audio on a 1024x1536 rig (drawn once with :func:`write_demo_rig` and cached in
``/tmp/streamer-bench/rig-1024x1536``), H.264 at 24 fps. The baseline runs in the same process:
open every frame with Pillow, write it as a PNG to a temp folder, then ``ffmpeg`` with libx264
preset medium. The same is done for WebM with alpha (the baseline reuses the PNG folder's
timing and runs ffmpeg's libvpx-vp9 with our realtime settings, since its default VP9 effort
would take many minutes at this size). Then live viewers' lateness is measured on a server in
its own process with and without an export job running on it. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.workloads import lipsync_timeline
from streamer.core.resolve import resolve
from streamer.core.timeline import parse_timeline
from streamer.export import AudioSource, ExportOptions, render
from streamer.frames import LocalFrameStore
from streamer.rigload import load_rig

RIG_CACHE = Path("/tmp/streamer-bench/rig-1024x1536")
RIG_SIZE = (1024, 1536)
FPS = 24


def ensure_rig(path: Path) -> Path:
    if (path / "rig.json").is_file():
        return path
    from streamer.demo import write_demo_rig

    print(f"drawing a {RIG_SIZE[0]}x{RIG_SIZE[1]} demo rig into {path} (about a minute, cached)", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    write_demo_rig(tmp, size=RIG_SIZE)
    tmp.rename(path)
    return path


def write_speechy_wav(path: Path, duration_ms: int, rate: int = 22_050) -> None:
    """A mono WAV with syllable-like tone bursts (a stand-in for speech; the content does not matter)."""
    n = rate * duration_ms // 1000
    t = np.arange(n) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * math.pi * 3.0 * t)
    tone = np.sin(2 * math.pi * (180 + 40 * np.sin(2 * math.pi * 0.5 * t)) * t)
    samples = (0.3 * envelope * tone * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def old_method(rig: Path, keys: list[str], audio: Path, out: Path, work: Path, vp9: bool = False) -> dict[str, float]:
    """face_rig's way: every frame through Pillow to a PNG file, then the ffmpeg command line."""
    frames_dir = work / "png"
    started = time.perf_counter()
    if not frames_dir.is_dir():
        frames_dir.mkdir()
        for i, key in enumerate(keys):
            with Image.open(rig / key) as im:
                im.convert("RGBA").save(frames_dir / f"frame_{i:05d}.png")
    png_s = time.perf_counter() - started
    if vp9:
        codec = ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-deadline", "realtime", "-cpu-used", "7"]
        codec += ["-crf", "30", "-b:v", "0", "-row-mt", "1", "-auto-alt-ref", "0", "-metadata:s:v:0", "alpha_mode=1"]
        codec += ["-c:a", "libopus"]
    else:
        codec = ["-c:v", "libx264", "-preset", "medium", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    cmd = ["ffmpeg", "-v", "error", "-y", "-framerate", str(FPS), "-i", str(frames_dir / "frame_%05d.png")]
    cmd += ["-i", str(audio), *codec, "-shortest", str(out)]
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    return {"png_s": png_s, "ffmpeg_s": time.perf_counter() - started}


def ours(schedule: Any, rig: Path, audio: Path, fmt: str, out: Path, quality: str = "standard") -> float:
    started = time.perf_counter()
    options = ExportOptions(format=fmt, fps=FPS, quality=quality)
    render(schedule, LocalFrameStore(rig), AudioSource(audio), options, output=out)
    return time.perf_counter() - started


# -- live lateness -------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def ping_viewer(url: str, seconds: float, rtts: list[float]) -> None:
    """A viewer that pings every 100 ms (the server closes connections sending over 20/s)."""
    import websockets

    async with websockets.connect(url, compression=None, max_size=None) as ws:
        end = time.monotonic() + seconds
        sent: dict[str, float] = {}

        async def reader() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "pong" and msg["id"] in sent:
                    rtts.append(time.monotonic() * 1000 - sent.pop(msg["id"]))

        task = asyncio.create_task(reader())
        n = 0
        while time.monotonic() < end:
            sent[f"p{n}"] = time.monotonic() * 1000
            await ws.send(json.dumps({"type": "ping", "id": f"p{n}", "client_time": 0}))
            n += 1
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
        task.cancel()


async def watch(url: str, seconds: float, pingers: int = 5) -> dict[str, float]:
    """A controller plays a timeline (frames flow every batch) while ``pingers`` viewers measure round trips.

    Reports ping round trips (how quickly the server's event loop answers) and how late frames
    arrive against their show time at the controller.
    """
    import websockets

    from benchmarks.loadgen import clock_offset

    rtts: list[float] = []
    behind: list[float] = []  # how long after its show time a frame arrived (0 when it came ahead)
    async with websockets.connect(url + "&role=controller", compression=None, max_size=None) as ws:
        offset = await clock_offset(ws)
        play = {"type": "play", "id": "bench", "timeline": lipsync_timeline(int(seconds * 1000) + 10_000, seed=3)}
        await ws.send(json.dumps(play))
        end = time.monotonic() + seconds
        tasks = [asyncio.create_task(ping_viewer(url, seconds, rtts)) for _ in range(pingers)]
        first = True
        while time.monotonic() < end:
            try:
                msg = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(0.01, end - time.monotonic())))
            except TimeoutError:
                break
            if msg["type"] == "frames" and msg["frames"]:
                if not first:  # the join message starts with the frame already on screen
                    behind.append(max(0.0, time.monotonic() * 1000 + offset - msg["frames"][0][0]))
                first = False
        await asyncio.gather(*tasks)
    return {
        "ping_p50_ms": round(percentile(rtts, 0.5), 2),
        "ping_p99_ms": round(percentile(rtts, 0.99), 2),
        "frames_late_p99_ms": round(percentile(behind, 0.99), 2),
        "frames_messages_late": sum(1 for b in behind if b > 0),
        "samples": len(rtts),
    }


def lateness(rig: Path, seconds: float) -> dict[str, Any]:
    from benchmarks.loadgen import start_server

    with start_server(STREAMER_FRAMES_DIR=str(rig)) as (base, _proc):
        url = base.replace("http", "ws") + "/ws?channel=bench"
        idle = asyncio.run(watch(url, seconds))
        # 300 s so that the export is still encoding when the measurement ends.
        export = {"timeline": lipsync_timeline(600_000), "options": {"format": "mp4", "audio": False}}
        body = json.dumps(export).encode()
        req = urllib.request.Request(
            base + "/exports", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(req, timeout=30) as res:
            job = json.load(res)
        time.sleep(1.0)  # let the export get past fetching into encoding
        busy = asyncio.run(watch(url, seconds))
        with urllib.request.urlopen(f"{base}/exports/{job['id']}", timeout=10) as res:
            state = json.load(res)
        if state["status"] != "running":
            raise RuntimeError(f"the export did not run during the measurement: {state}")
    return {
        "without_export": idle,
        "with_export": busy,
        "export_frames_during": state["progress"]["frames"],
        "p99_delta_ms": round(busy["ping_p99_ms"] - idle["ping_p99_ms"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60, help="timeline length (default 60)")
    parser.add_argument("--rig", type=Path, default=RIG_CACHE, help="1024x1536 rig (drawn and cached if missing)")
    parser.add_argument("--skip-baseline", action="store_true", help="only time our renderer")
    parser.add_argument("--skip-lateness", action="store_true", help="skip the live lateness measurement")
    parser.add_argument("--lateness-s", type=float, default=12.0, help="seconds to watch live viewers per run")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is not installed (apt-get install -y ffmpeg)")
    rig = ensure_rig(args.rig)
    duration_ms = args.seconds * 1000
    figures: dict[str, Any] = {"timeline_s": args.seconds, "size": list(RIG_SIZE), "fps": FPS}
    with tempfile.TemporaryDirectory(prefix="streamer-export-bench-") as tmp:
        work = Path(tmp)
        audio = work / "speech.wav"
        write_speechy_wav(audio, duration_ms)
        schedule = resolve(parse_timeline(lipsync_timeline(duration_ms)), load_rig(rig))
        keys = schedule.sample(FPS)
        figures["frames"] = len(keys)
        figures["distinct_frames"] = len(set(keys))
        for fmt in ("mp4", "webm"):
            seconds = ours(schedule, rig, audio, fmt, work / f"ours.{fmt}")
            figures[f"ours_{fmt}_s"] = round(seconds, 2)
            figures[f"ours_{fmt}_realtime"] = round(args.seconds / seconds, 2)
            print(f"ours {fmt}: {seconds:.2f} s ({args.seconds / seconds:.1f}x real time)", file=sys.stderr)
        seconds = ours(schedule, rig, audio, "mp4", work / "draft.mp4", quality="draft")
        figures["ours_mp4_draft_s"] = round(seconds, 2)
        print(f"ours mp4 (quality draft): {seconds:.2f} s", file=sys.stderr)
        if not args.skip_baseline:
            for fmt in ("mp4", "webm"):
                old = old_method(rig, keys, audio, work / f"old.{fmt}", work, vp9=fmt == "webm")
                total = old["png_s"] + old["ffmpeg_s"]
                if fmt == "webm" and "old_mp4_png_s" in figures:
                    total = figures["old_mp4_png_s"] + old["ffmpeg_s"]  # the PNG folder was made once
                    old["png_s"] = figures["old_mp4_png_s"]
                figures[f"old_{fmt}_png_s"] = round(old["png_s"], 2)
                figures[f"old_{fmt}_ffmpeg_s"] = round(old["ffmpeg_s"], 2)
                figures[f"old_{fmt}_s"] = round(total, 2)
                figures[f"ratio_{fmt}"] = round(total / figures[f"ours_{fmt}_s"], 1)
                if fmt == "mp4":
                    figures["ratio_mp4_draft"] = round(total / figures["ours_mp4_draft_s"], 1)
                print(
                    f"old {fmt}: {total:.1f} s (png {old['png_s']:.1f} s, ffmpeg {old['ffmpeg_s']:.1f} s)",
                    file=sys.stderr,
                )
    if not args.skip_lateness:
        figures["lateness"] = lateness(rig, args.lateness_s)
    figures["ratio_vs_old_method"] = figures.get("ratio_mp4")
    figures["realtime_factor"] = figures["ours_mp4_realtime"]
    figures["webm_ratio_vs_old_method"] = figures.get("ratio_webm")
    figures["webm_realtime_factor"] = figures["ours_webm_realtime"]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
