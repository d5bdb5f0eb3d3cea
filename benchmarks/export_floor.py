"""Where our MP4 export spends its CPU: each stage alone, best of several runs, against the 20x budget.

``python -m benchmarks.export_floor [--seconds 20] [--runs 3]``: the timeline, rig and audio of
``benchmarks.export``; each stage is run ``--runs`` times in this process and its best CPU time
(user + system, threads included) kept, since on a shared machine the load only ever adds time:

- ``convert``: every distinct frame decoded, flattened on white and converted to 4:2:0 once
  (what :class:`streamer.export.decode.FrameCache` does);
- ``x264_standard``: x264 alone with the ``standard`` options on those converted frames as the
  renderer sends them (only the pictures the decoder does not hold, the repeats spliced in:
  :mod:`streamer.export.h264`), one thread and the renderer's thread count;
- ``x264_ultrafast``: x264 alone with nothing added to ``preset=ultrafast`` (CRF 23): the least
  CPU x264 spends on these frames, whatever the file size;
- ``render`` and ``render_no_audio``: the whole renderer, with and without audio.

Memory touched for the first time costs system time on a VM whose host takes free memory back
(free page reporting): the stages are measured after a warm-up that touches 1 GB, so that the
figures are the work itself; ``cold_render`` is the renderer once in a fresh process, as a
benchmark or a worker process runs it. Video-stream sizes are printed for the x264 stages. The
last line is one JSON object; ``budget_20x_cpu_s`` is the old method's CPU time over 20 when
``--old-cpu-s`` gives it (from a ``benchmarks.export`` run).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from benchmarks.export import FPS, RIG_CACHE, RIG_SIZE, ensure_rig, video_bytes, write_speechy_wav
from benchmarks.workloads import lipsync_timeline
from streamer.core.resolve import resolve
from streamer.core.timeline import parse_timeline
from streamer.export import ExportOptions
from streamer.export.decode import to_video_frame
from streamer.export.render import GOP_SECONDS, AudioSource, _pictures, _Repeats, _Send, encoder_thread_count, render
from streamer.frames import LocalFrameStore
from streamer.rigload import load_rig


def cpu_times() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def best(runs: int, work: Callable[[], Any]) -> dict[str, Any]:
    """The least CPU (user + system) of ``runs`` calls of ``work``, with that run's system share."""
    results = []
    for _ in range(runs):
        user0, sys0 = cpu_times()
        work()
        user1, sys1 = cpu_times()
        results.append((user1 - user0 + sys1 - sys0, sys1 - sys0))
    cpu, system = min(results)
    return {"cpu_s": round(cpu, 2), "sys_s": round(system, 2), "all_cpu_s": [round(r[0], 2) for r in results]}


def x264(
    frames: dict[str, av.VideoFrame],
    keys: list[str],
    out: Path,
    options: dict[str, str],
    threads: int,
    repeats: bool,
) -> int:
    """The renderer's video loop with nothing else: ``keys``' frames through libx264, held frames
    left out; with ``repeats``, as the renderer does for ``draft`` and ``standard``: x264 encodes
    only the pictures the decoder does not hold, and the repeats are spliced in. Returns how many
    pictures x264 encoded."""
    with av.open(str(out), "w", format="mp4") as container:
        stream: Any = container.add_stream("libx264", rate=FPS, options=options)
        ctx = stream.codec_context
        ctx.width, ctx.height, ctx.pix_fmt = *RIG_SIZE, "yuv420p"
        ctx.time_base, ctx.framerate, ctx.gop_size = Fraction(1, FPS), Fraction(FPS), FPS * GOP_SECONDS
        ctx.thread_type, ctx.thread_count = "FRAME", threads
        pictures = _pictures(keys, variable_rate=True)
        spliced = _Repeats.open(stream, pictures, FPS, FPS * GOP_SECONDS) if repeats else None
        sends = spliced.sends() if spliced else {i: _Send(key, i, held) for i, key, held in pictures}
        for send in sends.values():
            frame = frames[send.key]
            frame.pts, frame.time_base, frame.duration = send.pts, Fraction(1, FPS), send.duration
            frame.pict_type = send.pict_type or av.video.frame.PictureType.NONE
            packets = stream.encode(frame)
            container.mux(spliced.splice(packets) if spliced else packets)
        flushed = stream.encode(None)
        container.mux(spliced.splice(flushed) if spliced else flushed)
    return len(sends)


def cold_render(seconds: int, rig: Path) -> dict[str, Any]:
    """The renderer once, in a fresh process (memory touched for the first time, as a worker does)."""
    cmd = [sys.executable, "-m", "benchmarks.export_floor", "--seconds", str(seconds), "--rig", str(rig), "--cold"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def render_once(seconds: int, rig: Path) -> dict[str, Any]:
    """``--cold``: set up, then render once and report this process's CPU for the render."""
    with tempfile.TemporaryDirectory(prefix="streamer-floor-") as tmp:
        schedule, audio = setup(seconds, rig, Path(tmp))
        user0, sys0 = cpu_times()
        render(
            schedule, LocalFrameStore(rig), AudioSource(audio), ExportOptions(fps=FPS), output=Path(tmp) / "cold.mp4"
        )
        user1, sys1 = cpu_times()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return {"cpu_s": round(user1 - user0 + sys1 - sys0, 2), "sys_s": round(sys1 - sys0, 2), "peak_rss_mb": peak_mb}


def setup(seconds: int, rig: Path, work: Path) -> tuple[Any, Path]:
    """The benchmark's schedule and its audio file (written into ``work``)."""
    audio = work / "speech.wav"
    write_speechy_wav(audio, seconds * 1000)
    return resolve(parse_timeline(lipsync_timeline(seconds * 1000)), load_rig(rig)), audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rig", type=Path, default=RIG_CACHE)
    parser.add_argument("--old-cpu-s", type=float, help="the old method's CPU seconds, from benchmarks.export")
    parser.add_argument("--cold", action="store_true", help="only render once (what cold_render runs)")
    args = parser.parse_args()
    rig = ensure_rig(args.rig)
    if args.cold:
        print(json.dumps(render_once(args.seconds, rig)))
        return
    figures: dict[str, Any] = {"timeline_s": args.seconds, "runs": args.runs, "load": os.getloadavg()}
    figures["cold_render"] = cold_render(args.seconds, rig)
    np.ones(1 << 27).sum()  # touch 1 GB once: from here on, the figures are the work, not the VM's paging
    with tempfile.TemporaryDirectory(prefix="streamer-floor-") as tmp:
        work = Path(tmp)
        schedule, audio = setup(args.seconds, rig, work)
        keys = schedule.sample(FPS)
        distinct = list(dict.fromkeys(keys))
        pngs = {key: (rig / key).read_bytes() for key in distinct}
        options = ExportOptions(fps=FPS)
        frames: dict[str, av.VideoFrame] = {}

        def convert() -> None:
            frames.update((key, to_video_frame(pngs[key], key, RIG_SIZE, options)) for key in distinct)

        figures["distinct_frames"] = len(distinct)
        figures["frames_shown"] = len(_pictures(keys, variable_rate=True))  # held frames left out
        figures["convert"] = best(args.runs, convert)
        standard = dict(options.spec.encoder_options["standard"])
        stages = {
            "x264_standard_1_thread": (standard, 1, True),
            "x264_standard": (standard, encoder_thread_count(), True),
            "x264_ultrafast_1_thread": ({"preset": "ultrafast", "crf": "23"}, 1, False),
        }
        for name, (opts, threads, repeats) in stages.items():
            out = work / f"{name}.mp4"
            encoded: list[int] = []  # pictures x264 encoded, per run
            job = functools.partial(x264, frames, keys, out, opts, threads, repeats)
            figures[name] = best(args.runs, lambda job=job, encoded=encoded: encoded.append(job()))
            figures[name]["encoded"] = encoded[-1]
            figures[name]["video_bytes"] = video_bytes(out)
        for name, audio_on in (("render", True), ("render_no_audio", False)):
            export = ExportOptions(fps=FPS, audio=audio_on)
            out = work / f"{name}.mp4"
            job = functools.partial(render, schedule, LocalFrameStore(rig), AudioSource(audio), export, output=out)
            figures[name] = best(args.runs, job)
        figures["load_after"] = os.getloadavg()
    if args.old_cpu_s:
        figures["budget_20x_cpu_s"] = round(args.old_cpu_s / 20, 2)
    for name, value in figures.items():
        print(f"{name}: {value}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
