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
from typing import Any, NamedTuple

import av
import numpy as np

from streamer.core.errors import StreamerError
from streamer.core.schedule import Schedule
from streamer.export import h264
from streamer.export.audio import LAYOUTS, AudioSource, AudioTrack, load_audio
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
# most that many frames, well under a second. With repeats (MP4 draft and standard) the renderer
# places the keyframes by the same rule: every 240 pictures x264 encodes (h264.plan).
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
        sound = None  # (samples, their rate)
        if has_audio:
            assert audio is not None
            report(0, total, "audio")
            sound = load_audio(audio, options.start_ms, total, options.fps, options.spec.audio_rates)
        _encode(tmp, keys, pngs, (width, height), options, sound, report, cancelled, cache_bytes, encoder_threads)
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


class _Send(NamedTuple):
    """A frame sent to the encoder at output index ``i``: its key, the pts the encoder sees, its type."""

    key: str
    pts: int
    duration: int
    pict_type: Any = None  # None: the encoder's choice


def _pictures(keys: list[str], variable_rate: bool) -> list[tuple[int, str, int]]:
    """(output index, key, frame times on screen) of each picture the file shows.

    Every frame at a constant rate. At a variable rate a held frame is left out: the one before
    stays on screen until the next pts. The last frame is always sent, so that the video lasts
    as long as the timeline.
    """
    if not variable_rate:
        return [(i, key, 1) for i, key in enumerate(keys)]
    last = len(keys) - 1
    return [(i, key, _held(keys, i)) for i, key in enumerate(keys) if not (0 < i < last and key == keys[i - 1])]


def _encode_frames(
    container: Any,
    video: Any,
    track: AudioTrack | None,
    total: int,
    sends: dict[int, _Send],
    cache: FrameCache,
    rate: int,
    report: ProgressSink,
    cancelled: Callable[[], bool],
    repeats: _Repeats | None,
) -> None:
    time_base = Fraction(1, rate)
    for i in range(total):
        if cancelled():
            raise Cancelled("export cancelled")
        send = sends.get(i)
        if send is not None:
            frame = cache.get(send.key)
            # The encoder takes its own reference with the pts it had when sent, so reusing the frame is safe.
            frame.pts, frame.time_base, frame.duration = send.pts, time_base, send.duration
            if send.pict_type is not None:
                frame.pict_type = send.pict_type
            packets = video.encode(frame)
            container.mux(repeats.splice(packets) if repeats is not None else packets)
        if track is not None:
            container.mux(track.packets_until((i + 1) * track.rate // rate))
        report(i + 1, total, "encoding")


_KEYFRAME, _PREDICTED = av.video.frame.PictureType.I, av.video.frame.PictureType.P


class _Repeats:
    """Splices repeats (:mod:`streamer.export.h264`) into x264's packets as they come out.

    Open the stream's encoder with :meth:`open` before the container starts: it adds the
    repeats' PPS to the encoder's headers, which the muxer then writes into the file's header.
    """

    def __init__(self, video: Any, steps: list[h264.Step], sps: h264.SPS, pps: h264.PPS, rate: int) -> None:
        self.video = video
        self.steps = {step.index: step for step in steps}
        self.numbers = {step.index: n for n, step in enumerate(steps)}
        self.following = {current.index: repeats for current, repeats in h264.encoded_runs(steps)}
        self.sps, self.pps = sps, {pps.pps_id: pps}
        self.frame_nums: dict[int, int] = {}  # step number -> frame_num of the picture x264 encoded there
        self.time_base = Fraction(1, rate)
        # x264 is told how long each picture it encodes stays on screen, its repeats included,
        # through the timestamps it sees: its rate control gives a picture seen longer more bits.
        screen = {step.index: step.duration for step in steps if step.encode}
        for step in steps:
            if step.source is not None:
                screen[steps[step.source].index] += step.duration
        self.encoder_pts: dict[int, int] = {}
        total = 0
        for index in sorted(screen):
            self.encoder_pts[index] = total
            total += screen[index]
        self.by_encoder_pts = {pts: self.steps[index] for index, pts in self.encoder_pts.items()}

    def sends(self) -> dict[int, _Send]:
        """What the encoder is sent: the pictures it encodes, typed, with their screen-time pts."""
        return {
            step.index: _Send(
                step.key, self.encoder_pts[step.index], step.duration, _KEYFRAME if step.keyframe else _PREDICTED
            )
            for step in self.steps.values()
            if step.encode
        }

    @classmethod
    def open(cls, video: Any, pictures: list[tuple[int, str, int]], rate: int, gop: int) -> _Repeats:
        ctx = video.codec_context
        ctx.open()
        units = h264.nal_units(ctx.extradata or b"")
        sps_units = [u for u in units if u[0] & 0x1F == h264.NAL_SPS]
        pps_units = [u for u in units if u[0] & 0x1F == h264.NAL_PPS]
        if len(sps_units) != 1 or len(pps_units) != 1:
            raise h264.StreamError("the encoder's headers are not one SPS and one PPS")
        sps, pps = h264.parse_sps(sps_units[0]), h264.parse_pps(pps_units[0])
        if pps.pps_id == h264.REPEAT_PPS_ID:
            raise h264.StreamError("the encoder's PPS uses the repeats' id")
        ctx.extradata = h264.annex_b([*units, h264.repeat_pps(sps)])
        # Every picture order count within half its range of the last reference's (8.2.1.1):
        # within a quarter, to leave a margin.
        max_run = (1 << sps.log2_max_poc_lsb) // 4
        steps = h264.plan(pictures, sps.max_num_ref_frames, gop, max_run)
        return cls(video, steps, sps, pps, rate)

    def splice(self, packets: list[Any]) -> list[Any]:
        """x264's ``packets`` with their picture order counts set, each followed by its repeats."""
        out = []
        for packet in packets:
            step = self.by_encoder_pts[packet.pts]
            out.append(self._packet(self._rewrite(packet, step), step, step.keyframe))
            frame_num = self.frame_nums[self.numbers[step.index]]
            for repeat in self.following[step.index]:
                assert repeat.source is not None
                source = self.frame_nums[repeat.source]
                data = h264.annex_b([h264.repeat_slice(self.sps, frame_num + 1, source, repeat.poc)])
                out.append(self._packet(data, repeat, False))
        return out

    def _rewrite(self, packet: Any, step: h264.Step) -> bytes:
        units = []
        slices = 0
        for unit in h264.nal_units(bytes(packet)):
            if unit[0] & 0x1F in (h264.NAL_SLICE, h264.NAL_IDR):
                header = h264.parse_slice(unit, self.sps, self.pps)
                if header.first_mb != 0 or slices:
                    raise h264.StreamError("x264 wrote more than one slice per picture")
                if header.idr != step.keyframe or not header.reference:
                    raise h264.StreamError("x264 did not keep the frame types it was given")
                self.frame_nums[self.numbers[step.index]] = header.frame_num
                unit = h264.set_poc(unit, header, self.sps, step.poc)
                slices += 1
            units.append(unit)
        if slices != 1:
            raise h264.StreamError("a packet from x264 holds no picture")
        return h264.annex_b(units)

    def _packet(self, data: bytes, step: h264.Step, keyframe: bool) -> Any:
        packet = av.Packet(data)
        packet.stream = self.video
        packet.time_base = self.time_base
        packet.pts = packet.dts = step.index
        packet.duration = step.duration
        packet.is_keyframe = keyframe
        return packet


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
    sound: tuple[np.ndarray, int] | None,
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
        if sound is not None:
            samples, sample_rate = sound
            channels = samples.shape[0]
            astream = container.add_stream(spec.audio_codec, rate=sample_rate, layout=LAYOUTS[channels])
            astream.codec_context.format = sample_format
            if spec.audio_bit_rate is not None:
                astream.codec_context.bit_rate = spec.audio_bit_rate * channels
            astream.codec_context.time_base = Fraction(1, sample_rate)
        pictures = _pictures(keys, options.variable_rate)
        repeats = None
        if options.quality in spec.repeats:
            repeats = _Repeats.open(video, pictures, rate, rate * GOP_SECONDS)
            sends = repeats.sends()
        else:
            sends = {i: _Send(key, i, duration) for i, key, duration in pictures}
        container.start_encoding()  # opens the codecs here, before the audio thread uses its own

        def convert(key: str) -> av.VideoFrame:
            return to_video_frame(pngs[key], key, size, options)

        frame_bytes = int(width * height * spec.bytes_per_pixel)
        track = AudioTrack(astream, *sound, sample_format) if sound is not None else None
        with concurrent.futures.ThreadPoolExecutor(CONVERT_THREADS, thread_name_prefix="export-convert") as pool:
            cache = FrameCache(convert, frame_bytes, cache_bytes, [send.key for send in sends.values()], pool)
            try:
                if track is not None:
                    track.start()
                _encode_frames(container, video, track, len(keys), sends, cache, rate, report, cancelled, repeats)
                flushed = video.encode(None)
                container.mux(repeats.splice(flushed) if repeats is not None else flushed)
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
