"""Export: our in-process PyAV renderer against the old PNG-folder + ffmpeg CLI method, time, size and quality.

``python -m benchmarks.export``: a lip-synced timeline (``lipsync_timeline``, 60 s unless
``--seconds``) with as much audio on a 1024x1536 rig (drawn once with :func:`write_demo_rig` and
cached in ``/tmp/streamer-bench/rig-1024x1536``), at 24 fps. For each format (MP4, WebM with
alpha), three encodes in the same run:

- ours: :func:`streamer.export.render` with the default options (quality ``standard``, held
  frames left out); MP4 ``draft`` too;
- the old method, as the app we replace does it: open every frame with Pillow and save it as a
  PNG into a folder, then the ``ffmpeg`` command line (MP4: libx264 preset medium CRF 23, its
  defaults; WebM: libvpx-vp9 realtime, cpu-used 7, CRF 30, since its default VP9 effort would
  take many minutes at this size), every frame at a constant rate;
- the old method at our encoder settings: the same PNG folder through ``ffmpeg`` with the
  options of :data:`streamer.export.formats.FORMATS` and our keyframe interval, so the
  encoder is the same and only the pipeline differs (reading and converting each distinct
  frame once, leaving held frames out).

Each output is timed (the old method's time includes writing the PNG folder once), weighed
(the file, and its video stream alone: the audio codecs differ), its video frames counted, and
compared with what it was asked to show: SSIM and PSNR of every frame time against the source
frames, both in the codec's 4:2:0 format (ffmpeg's ``ssim`` and ``psnr`` filters; a file that
leaves held frames out is read at 24 fps, so a held frame is compared at every time it is
shown). The reference for ours is the source flattened on its white background (MP4) as our
renderer does; for the old method it is the PNG as ffmpeg reads it (alpha dropped), which is
what that pipeline encodes. WebM compares colour planes only (alpha is not compared). Then live
viewers' lateness is measured on a server in its own process with and without an export job
running on it. The last line is one JSON object; ``default_{mp4,webm}_meets_target`` says
whether ours has at least the old method's SSIM in no larger a file, at least 20x faster in CPU
time (user + system, threads and child processes included; system time is also reported apart).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import resource
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
from streamer.export import ExportOptions
from streamer.export.formats import FORMATS as FORMAT_SPECS
from streamer.export.render import GOP_SECONDS, AudioSource, render
from streamer.frames import LocalFrameStore
from streamer.rigload import load_rig

RIG_CACHE = Path("/tmp/streamer-bench/rig-1024x1536")
RIG_SIZE = (1024, 1536)
FPS = 24
FORMATS = ("mp4", "webm")


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


def ffmpeg_codec_args(fmt: str, quality: str = "standard") -> list[str]:
    """Our encoder settings for ``fmt`` as ffmpeg command-line options (the same table the renderer uses).

    Where the renderer gives x264 each frame's type (a P-frame, an IDR every 240 encoded
    pictures: ``streamer.export.h264``), which the command line cannot, x264 is told the same
    structure: no B-frames and a keyframe every 240 frames (else it would use the B-frames the
    settings allow only for their picture order counts, and make one keyframe in all)."""
    args = []
    for key, value in FORMAT_SPECS[fmt].encoder_options[quality].items():
        if key == "x264-params" and quality in FORMAT_SPECS[fmt].repeats:
            value += f":bframes=0:keyint={FPS * GOP_SECONDS}"  # later options override earlier ones
        args += ["-b:v" if key == "b" else f"-{key}", value]
    return [*args, "-g", str(FPS * GOP_SECONDS)]


def cpu_times() -> tuple[float, float]:
    """(user, system) CPU seconds of this process, its threads and its finished child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + children.ru_utime, own.ru_stime + children.ru_stime


class Timer:
    """Wall clock, CPU (user + system) and system seconds from creation to :meth:`stop`.

    System time is reported apart: on a VM that hands free memory back to its host (this one does),
    touching memory afresh costs system time in proportion to how much is touched, and it is the
    noisiest part of the CPU figure.
    """

    def __init__(self) -> None:
        self.started, self.cpu0 = time.perf_counter(), cpu_times()

    def stop(self) -> tuple[float, float, float]:
        (user, system), (user0, system0) = cpu_times(), self.cpu0
        return time.perf_counter() - self.started, user + system - user0 - system0, system - system0


def write_png_folder(rig: Path, keys: list[str], frames_dir: Path) -> tuple[float, float, float]:
    """face_rig's first stage: every frame opened with Pillow and saved as a PNG; returns (seconds, CPU
    seconds, system seconds)."""
    timer = Timer()
    frames_dir.mkdir()
    for i, key in enumerate(keys):
        with Image.open(rig / key) as im:
            im.convert("RGBA").save(frames_dir / f"frame_{i:05d}.png")
    return timer.stop()


def ffmpeg_encode(frames_dir: Path, audio: Path, out: Path, codec: list[str]) -> tuple[float, float, float]:
    """face_rig's second stage: the PNG folder and the audio through the ffmpeg command line; returns
    (seconds, CPU seconds, system seconds). The ffmpeg process's CPU is counted (a finished child's)."""
    cmd = ["ffmpeg", "-v", "error", "-y", "-framerate", str(FPS), "-i", str(frames_dir / "frame_%05d.png")]
    cmd += ["-i", str(audio), *codec, "-shortest", str(out)]
    timer = Timer()
    subprocess.run(cmd, check=True)
    return timer.stop()


MP4 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
WEBM = ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-metadata:s:v:0", "alpha_mode=1"]
# The old method's own settings. MP4: ffmpeg's x264 defaults (preset medium, CRF 23). WebM: libvpx's
# default effort takes many minutes at this size, so VP9 realtime at CRF 30 with a keyframe every
# 240 frames (our settings before variable frame rate), fixed here so that the baseline does not
# move when ours do.
OLD_CODEC = {
    "mp4": [*MP4, "-preset", "medium", "-crf", "23", "-c:a", "aac"],
    "webm": [*WEBM, "-deadline", "realtime", "-cpu-used", "7", "-crf", "30", "-b:v", "0", "-row-mt", "1"]
    + ["-auto-alt-ref", "0", "-g", str(FPS * 10), "-c:a", "libopus"],
}
# The same PNG folder through ffmpeg with our encoder options (a constant rate: the folder has every frame).
OUR_CODEC = {
    "mp4": [*MP4, *ffmpeg_codec_args("mp4"), "-c:a", "aac"],
    "webm": [*WEBM, *ffmpeg_codec_args("webm"), "-c:a", "libopus"],
}


def ours(
    schedule: Any, rig: Path, audio: Path, fmt: str, out: Path, quality: str = "standard"
) -> tuple[float, float, float]:
    """Our renderer, as ``streamer export`` runs it; returns (seconds, CPU seconds, system seconds).
    Its threads (decoding, encoder, audio) are this process's, so their CPU is counted."""
    timer = Timer()
    options = ExportOptions(format=fmt, fps=FPS, quality=quality)
    render(schedule, LocalFrameStore(rig), AudioSource(audio), options, output=out)
    return timer.stop()


def video_bytes(video: Path) -> int:
    """The video stream's share of the file (the audio codecs and bitrates differ between the methods)."""
    cmd = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size", "-of", "csv=p=0"]
    out = subprocess.run([*cmd, str(video)], check=True, capture_output=True, text=True).stdout
    sizes = (line.split(",")[0].strip() for line in out.splitlines())  # WebM rows carry side data after a comma
    return sum(int(size) for size in sizes if size.isdigit())


def quality(video: Path, frames_dir: Path, background: tuple[int, int, int] | None) -> dict[str, float]:
    """SSIM and PSNR (dB) of ``video``'s frames against the PNG folder, both in 4:2:0.

    ``background``: flatten the reference's alpha onto it first (what our MP4 shows); ``None``
    compares with the PNG as ffmpeg reads it (alpha dropped).
    """
    with Image.open(next(frames_dir.iterdir())) as im:
        width, height = im.size
    if background is not None:
        colour = "0x{:02x}{:02x}{:02x}".format(*background)
        ref = f"color=c={colour}:s={width}x{height}:r={FPS}[bg];[1:v]format=rgba[fg];"
        ref += "[bg][fg]overlay=shortest=1:format=rgb,format=yuv420p[ref]"
    else:
        ref = "[1:v]format=yuv420p[ref]"
    # fps: a frame held in a variable-rate file is what a player shows at every frame time of its hold.
    graph = f"{ref};[0:v]fps={FPS},format=yuv420p[out];[out]split[o1][o2];[ref]split[r1][r2];"
    with tempfile.TemporaryDirectory(prefix="streamer-ssim-") as stats:
        graph += f"[o1][r1]ssim=stats_file={stats}/ssim.log;[o2][r2]psnr"
        cmd = ["ffmpeg", "-hide_banner", "-nostats", "-i", str(video), "-framerate", str(FPS)]
        cmd += ["-i", str(frames_dir / "frame_%05d.png"), "-filter_complex", graph, "-f", "null", "-"]
        log = subprocess.run(cmd, check=True, capture_output=True, text=True).stderr
        compared = len((Path(stats) / "ssim.log").read_text().splitlines())
    if compared != len(list(frames_dir.iterdir())):
        raise RuntimeError(f"compared {compared} frame times, not one per source frame")
    ssim = re.search(r"SSIM .*All:([0-9.]+)", log)
    psnr = re.search(r"PSNR .*average:([0-9.inf]+)", log)
    if ssim is None or psnr is None:
        raise RuntimeError("ffmpeg printed no SSIM/PSNR: " + log[-500:])
    return {"ssim": round(float(ssim.group(1)), 5), "psnr_db": round(float(psnr.group(1)), 2)}


def video_frames(video: Path) -> int:
    """How many frames the video stream holds (fewer than the frame times when held frames are left out)."""
    cmd = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries"]
    cmd += ["stream=nb_read_packets", "-of", "csv=p=0", str(video)]
    return int(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().rstrip(","))


def verdict(figures: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Ratios against the old method in the same run, and whether the default keeps its promise:
    at least the old method's quality (SSIM) in no larger a file (the whole file, audio included,
    and the video stream alone), at least 20 times faster in CPU time."""
    ours, old, same = f"ours_{fmt}", f"old_{fmt}", f"old_{fmt}_our_settings"
    out = {
        f"ratio_{fmt}": round(figures[f"{old}_s"] / figures[f"{ours}_s"], 1),
        f"ratio_{fmt}_same_settings": round(figures[f"{same}_s"] / figures[f"{ours}_s"], 1),
        # CPU time: what each would take on a core of its own (less noisy on a shared machine).
        f"cpu_ratio_{fmt}": round(figures[f"{old}_cpu_s"] / figures[f"{ours}_cpu_s"], 1),
        f"size_ratio_{fmt}": round(figures[f"{ours}_bytes"] / figures[f"{old}_bytes"], 2),
        f"video_size_ratio_{fmt}": round(figures[f"{ours}_video_bytes"] / figures[f"{old}_video_bytes"], 2),
        f"quality_{fmt}_at_least_old": figures[f"{ours}_ssim"] >= figures[f"{old}_ssim"],
        f"size_{fmt}_at_most_old": figures[f"{ours}_bytes"] <= figures[f"{old}_bytes"]
        and figures[f"{ours}_video_bytes"] <= figures[f"{old}_video_bytes"],
    }
    # Judged in CPU time: the wall-clock ratio is mostly how busy the machine was while each side ran.
    out[f"speed_{fmt}_at_least_20x"] = out[f"cpu_ratio_{fmt}"] >= 20
    out[f"default_{fmt}_meets_target"] = (
        out[f"quality_{fmt}_at_least_old"] and out[f"size_{fmt}_at_most_old"] and out[f"speed_{fmt}_at_least_20x"]
    )
    return out


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
        figures["frame_changes"] = 1 + sum(a != b for a, b in zip(keys, keys[1:], strict=False))
        runs: dict[str, dict[str, Any]] = {}  # name -> seconds, file, reference flattening
        for fmt in FORMATS:
            seconds, cpu, system = ours(schedule, rig, audio, fmt, work / f"ours.{fmt}")
            runs[f"ours_{fmt}"] = {"s": seconds, "cpu_s": cpu, "sys_s": system, "file": work / f"ours.{fmt}"}
            runs[f"ours_{fmt}"]["flatten"] = fmt == "mp4"
            print(f"ours {fmt}: {seconds:.2f} s, {cpu:.2f} CPU s ({system:.2f} system)", file=sys.stderr)
        seconds, cpu, system = ours(schedule, rig, audio, "mp4", work / "draft.mp4", quality="draft")
        runs["ours_mp4_draft"] = {"s": seconds, "cpu_s": cpu, "sys_s": system, "file": work / "draft.mp4"}
        runs["ours_mp4_draft"]["flatten"] = True
        png_dir = work / "png"
        png_s, png_cpu, png_sys = write_png_folder(rig, keys, png_dir)
        figures["old_png_folder_s"], figures["old_png_folder_cpu_s"] = round(png_s, 2), round(png_cpu, 2)
        figures["old_png_folder_sys_s"] = round(png_sys, 2)
        if not args.skip_baseline:
            for fmt in FORMATS:
                for name, codec in ((f"old_{fmt}", OLD_CODEC[fmt]), (f"old_{fmt}_our_settings", OUR_CODEC[fmt])):
                    out = work / f"{name}.{fmt}"
                    encode_s, encode_cpu, encode_sys = ffmpeg_encode(png_dir, audio, out, codec)
                    runs[name] = {"s": png_s + encode_s, "cpu_s": png_cpu + encode_cpu, "file": out, "flatten": False}
                    runs[name]["sys_s"] = png_sys + encode_sys
                    runs[name] |= {"ffmpeg_s": encode_s, "ffmpeg_cpu_s": encode_cpu}
                    print(
                        f"{name}: {png_s + encode_s:.1f} s (png {png_s:.1f} s, ffmpeg {encode_s:.1f} s)",
                        file=sys.stderr,
                    )
        for name, run in runs.items():
            for key in ("s", "cpu_s", "sys_s", "ffmpeg_s", "ffmpeg_cpu_s"):
                if key in run:
                    figures[f"{name}_{key}"] = round(run[key], 2)
            figures[f"{name}_bytes"] = run["file"].stat().st_size
            figures[f"{name}_video_bytes"] = video_bytes(run["file"])
            figures[f"{name}_video_frames"] = video_frames(run["file"])
            flatten = ExportOptions().background if run["flatten"] else None
            for key, value in quality(run["file"], png_dir, flatten).items():
                figures[f"{name}_{key}"] = value
            print(
                f"{name}: {json.dumps({k: v for k, v in figures.items() if k.startswith(name + '_')})}", file=sys.stderr
            )
        for fmt in FORMATS:
            figures[f"ours_{fmt}_realtime"] = round(args.seconds / figures[f"ours_{fmt}_s"], 2)
            if not args.skip_baseline:
                figures.update(verdict(figures, fmt))
        if not args.skip_baseline:
            figures["ratio_mp4_draft"] = round(figures["old_mp4_s"] / figures["ours_mp4_draft_s"], 1)
    if not args.skip_lateness:
        figures["lateness"] = lateness(rig, args.lateness_s)
    figures["ratio_vs_old_method"] = figures.get("ratio_mp4")
    figures["realtime_factor"] = figures["ours_mp4_realtime"]
    figures["webm_ratio_vs_old_method"] = figures.get("ratio_webm")
    figures["webm_realtime_factor"] = figures["ours_webm_realtime"]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
