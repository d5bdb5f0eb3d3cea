"""The renderer: encode a schedule's frames and its audio to a video file with PyAV (blocking I/O).

Run it on a worker thread, never on an event loop. Output frame ``i`` shows the schedule at
``start_ms + i * 1000 / fps`` (exact, via :meth:`Schedule.sample`). Each distinct frame is
fetched once, then decoded and converted once (:mod:`streamer.export.decode`); the audio is
encoded on a thread of its own (:mod:`streamer.export.audio`); this module drives the video
encoder and the muxer. The file is written to a hidden temp file next to the output and
renamed into place only when complete; every path out removes the temp.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from streamer.core.errors import StreamerError
from streamer.core.schedule import Schedule
from streamer.export.audio import AUDIO_RATE, LAYOUTS, AudioSource, AudioTrack, load_audio
from streamer.export.decode import CancelCheck, FrameCache, cancel_check, fetch_frames, png_size, to_video_frame
from streamer.export.errors import Cancelled, DiskFull, ExportError, ExportTooLong
from streamer.export.options import ExportOptions
from streamer.frames import FrameStore
from streamer.storage import fsync_path, remove_leftovers

__all__ = ["AudioSource", "FrameStore", "RenderResult", "fetch_frames", "plan_keys", "render", "render_frames"]

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".export-tmp"
# Converted frames kept (a frame evicted is converted again when it comes back). 128 MB holds 54 frames
# of 1024x1536 in 4:2:0, enough for a talking character's repeats (the benchmark's 82 distinct frames
# are converted once each from 32 up): more costs memory, and memory touched afresh costs CPU too.
DEFAULT_CACHE_BYTES = 128 * 1024 * 1024
# A full disk, a full quota, or a file size limit: all "no room for the output".
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
CONVERT_THREADS = 2

ProgressSink = Callable[[int, int, str], None]

# A keyframe every 10 s of frames (x264's own default is 250 frames): at 2 s, keyframes were a fifth
# of a still character's file. Encoders count the frames they are sent, so with held frames left
# out a keyframe comes every 240 changes (16 s on the benchmark's timeline); seeking decodes at
# most that many frames, well under a second.
GOP_SECONDS = 10


@dataclass(frozen=True)
class RenderResult:
    """What :func:`render` wrote."""

    path: Path
    format: str
    frames: int
    distinct_frames: int
    width: int
    height: int
    duration_ms: int
    has_audio: bool
    seconds: float


def plan_keys(schedule: Schedule, options: ExportOptions, max_duration_ms: int | None = None) -> list[str]:
    """The frame key of every output frame index (trimmed to ``options``), checked against the cap."""
    start, end = options.span_ms(schedule.duration_ms)
    if max_duration_ms is not None and end - start > max_duration_ms:
        raise ExportTooLong(
            f"export of {(end - start) / 1000:.1f} s is over the limit of {max_duration_ms / 1000:.0f} s"
        )
    if (start, end) != (0, schedule.duration_ms):
        changes = tuple((t - start, key) for t, key in schedule.window(start, end))
        schedule = Schedule(end - start, changes)
    return schedule.sample(options.fps)


def temp_glob(output: Path) -> str:
    """The pattern of :func:`temp_path_for`'s names for ``output`` (to clean up after a dead worker)."""
    return f".{output.name}.*{TEMP_SUFFIX}"


def temp_path_for(output: Path) -> Path:
    """A hidden, unique temp file next to ``output`` that :func:`sweep_temp` recognises."""
    return output.with_name(f".{output.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def sweep_temp(folder: Path) -> int:
    """Remove export temp files left in ``folder`` by a crash; returns how many."""
    return remove_leftovers(folder, f".*{TEMP_SUFFIX}")


# -- the renderer --------------------------------------------------------------------------


def render(
    schedule: Schedule,
    store: FrameStore,
    audio: AudioSource | None,
    options: ExportOptions,
    progress: ProgressSink | None = None,
    cancel: CancelCheck | None = None,
    *,
    output: Path,
    loop: asyncio.AbstractEventLoop | None = None,
    max_duration_ms: int | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    encoder_threads: int = 0,
) -> RenderResult:
    """Encode ``schedule`` (and ``audio`` unless ``options.audio`` is off) to ``output``.

    ``store`` is awaited on ``loop`` when given (the server's loop; call this from another
    thread), else on a private loop. ``progress(done, total, stage)`` is called as frames are
    encoded; ``cancel`` (an Event or a callable) is checked before every frame. Raises
    :class:`ExportError` (a missing frame, undecodable audio, an encoder failure),
    :class:`ExportTooLong`, :class:`DiskFull` or :class:`Cancelled`; ``output`` is then untouched.
    """
    started = time.perf_counter()
    keys = plan_keys(schedule, options, max_duration_ms)
    if progress is not None:
        progress(0, len(keys), "fetching")
    pngs = fetch_frames(store, keys, loop, cancel)
    return render_frames(
        keys,
        pngs,
        audio,
        options,
        progress,
        cancel,
        output=output,
        cache_bytes=cache_bytes,
        encoder_threads=encoder_threads,
        started=started,
    )


def render_frames(
    keys: list[str],
    pngs: dict[str, bytes],
    audio: AudioSource | None,
    options: ExportOptions,
    progress: ProgressSink | None = None,
    cancel: CancelCheck | None = None,
    *,
    output: Path,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    encoder_threads: int = 0,
    started: float | None = None,
) -> RenderResult:
    """Encode output frames ``keys`` (from :func:`plan_keys`) whose bytes are in ``pngs``; as :func:`render`."""
    started = time.perf_counter() if started is None else started
    cancelled = cancel_check(cancel)
    report = progress or (lambda done, total, stage: None)
    total = len(keys)
    output = Path(output)
    tmp = temp_path_for(output)
    distinct = list(dict.fromkeys(keys))
    try:
        if cancelled():
            raise Cancelled("export cancelled")
        width, height = options.output_size(png_size(pngs[distinct[0]], distinct[0]))
        has_audio = audio is not None and options.audio
        samples = None
        if has_audio:
            assert audio is not None
            report(0, total, "audio")
            samples = load_audio(audio, options.start_ms, total * AUDIO_RATE // options.fps)
        _encode(tmp, keys, pngs, (width, height), options, samples, report, cancelled, cache_bytes, encoder_threads)
        report(total, total, "finishing")
        fsync_path(tmp)
        os.replace(tmp, output)
    except OSError as exc:
        raise _os_error(exc, output) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    seconds = time.perf_counter() - started
    log.info("exported %d frames (%d distinct) to %s in %.1f s", total, len(distinct), output, seconds)
    return RenderResult(
        path=output,
        format=options.format,
        frames=total,
        distinct_frames=len(distinct),
        width=width,
        height=height,
        duration_ms=total * 1000 // options.fps,
        has_audio=has_audio,
        seconds=seconds,
    )


def _encode_frames(
    container: Any,
    video: Any,
    track: AudioTrack | None,
    keys: list[str],
    cache: FrameCache,
    rate: int,
    report: ProgressSink,
    cancelled: Callable[[], bool],
    variable_rate: bool,
) -> None:
    total = len(keys)
    time_base = Fraction(1, rate)
    for i, key in enumerate(keys):
        if cancelled():
            raise Cancelled("export cancelled")
        # A held frame is not sent: the one before stays on screen until the next pts. The last
        # frame is always sent, so that the video lasts as long as the timeline.
        held = variable_rate and 0 < i < total - 1 and key == keys[i - 1]
        if not held:
            frame = cache.get(key)
            # The encoder takes its own reference with the pts it had when sent, so reusing the frame is safe.
            frame.pts = i
            frame.time_base = time_base
            frame.duration = _held(keys, i) if variable_rate else 1
            container.mux(video.encode(frame))
        if track is not None:
            container.mux(track.packets_until((i + 1) * AUDIO_RATE // rate))
        report(i + 1, total, "encoding")


def _held(keys: list[str], i: int) -> int:
    """How many frame times ``keys[i]`` stays on screen from ``i`` on (1 for the last frame)."""
    n = 1
    while i + n < len(keys) - 1 and keys[i + n] == keys[i]:
        n += 1
    return n


def encoder_thread_count() -> int:
    """One encoder thread per core this process may run on. libx264's own choice (1.5 per core, with
    0) took more CPU and more wall time than one per core on the 2-core benchmark machine."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _os_error(exc: OSError, output: Path) -> StreamerError:
    if exc.errno in NO_SPACE:
        return DiskFull(f"no space left to write {output.name!r} ({exc.strerror})")
    return ExportError(f"cannot write {output.name!r}: {exc.strerror or exc}")


def _encode(
    tmp: Path,
    keys: list[str],
    pngs: dict[str, bytes],
    size: tuple[int, int],
    options: ExportOptions,
    samples: np.ndarray | None,
    report: ProgressSink,
    cancelled: Callable[[], bool],
    cache_bytes: int,
    encoder_threads: int,
) -> None:
    spec = options.spec
    pix_fmt, sample_format = spec.pixel_format, spec.audio_sample_format
    width, height = size
    rate = options.fps
    container = av.open(str(tmp), mode="w", format=spec.container, options=dict(spec.container_options))
    try:
        video: Any = container.add_stream(
            spec.video_codec, rate=rate, options=dict(spec.encoder_options[options.quality])
        )
        ctx = video.codec_context
        ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
        ctx.time_base = Fraction(1, rate)
        ctx.framerate = Fraction(rate)
        ctx.gop_size = rate * GOP_SECONDS
        ctx.thread_type = spec.thread_type
        ctx.thread_count = encoder_threads or encoder_thread_count()
        if options.has_alpha:
            video.metadata["alpha_mode"] = "1"  # browsers only composite VP9 alpha with this tag
        astream: Any = None
        if samples is not None:
            channels = samples.shape[0]
            astream = container.add_stream(spec.audio_codec, rate=AUDIO_RATE, layout=LAYOUTS[channels])
            astream.codec_context.format = sample_format
            if spec.audio_bit_rate is not None:
                astream.codec_context.bit_rate = spec.audio_bit_rate * channels
            astream.codec_context.time_base = Fraction(1, AUDIO_RATE)
        container.start_encoding()  # opens the codecs here, before the audio thread uses its own

        def convert(key: str) -> av.VideoFrame:
            return to_video_frame(pngs[key], key, size, options)

        order = list(dict.fromkeys(keys))
        frame_bytes = int(width * height * spec.bytes_per_pixel)
        track = AudioTrack(astream, samples, sample_format) if samples is not None else None
        with concurrent.futures.ThreadPoolExecutor(CONVERT_THREADS, thread_name_prefix="export-convert") as pool:
            cache = FrameCache(convert, frame_bytes, cache_bytes, order, pool)
            try:
                if track is not None:
                    track.start()
                _encode_frames(container, video, track, keys, cache, rate, report, cancelled, options.variable_rate)
                container.mux(video.encode(None))
                if track is not None:
                    container.mux(track.rest())
            finally:
                cache.close()
                if track is not None:
                    track.close()
    except av.FFmpegError as exc:
        if getattr(exc, "errno", None) in NO_SPACE:
            raise DiskFull(f"no space left to write the {options.format} file") from exc
        raise ExportError(f"encoding failed: {exc}") from exc
    finally:
        try:
            container.close()
        except (av.FFmpegError, OSError) as exc:
            if getattr(exc, "errno", None) in NO_SPACE:
                raise DiskFull(f"no space left to write the {options.format} file") from exc
            raise
