"""The renderer: encode a schedule's frames and its audio to a video file with PyAV (blocking I/O).

Run it on a worker thread, never on an event loop. Output frame ``i`` shows the schedule at
``start_ms + i * 1000 / fps`` (exact, via :meth:`Schedule.sample`). Each distinct frame is
fetched once, then decoded, resized, composited and converted once into an ``av.VideoFrame``
kept in a byte-bounded cache for the job. The file is written to a hidden temp file next to
the output and renamed into place only when complete; every path out removes the temp.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import io
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import av
import numpy as np
from PIL import Image

from streamer.core.errors import NotFound, StreamerError
from streamer.core.schedule import Schedule
from streamer.export.errors import Cancelled, DiskFull, ExportError, ExportTooLong
from streamer.export.options import ExportOptions
from streamer.frames import FrameStore
from streamer.storage import fsync_path, remove_leftovers

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".export-tmp"
AUDIO_RATE = 48_000
LAYOUTS = {1: "mono", 2: "stereo"}
PNG_SIGNATURE, PNG_PALETTE = b"\x89PNG\r\n\x1a\n", 3
DEFAULT_CACHE_BYTES = 768 * 1024 * 1024
FETCH_CONCURRENCY = 16
# A full disk, a full quota, or a file size limit: all "no room for the output".
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
CONVERT_THREADS = 2
# RGB to 4:2:0 with the chroma filter the ffmpeg command line uses (PyAV's default is bilinear): the
# same pixels as ffmpeg's conversion, which the benchmark's reference and the old method use.
CHROMA_FILTER = "BICUBIC"
CONVERT_AHEAD = 6

ProgressSink = Callable[[int, int, str], None]
CancelCheck = threading.Event | Callable[[], bool]
T = TypeVar("T")

# A keyframe every 10 s of frames (x264's own default is 250 frames): at 2 s, keyframes were a fifth
# of a still character's file. Encoders count the frames they are sent, so with held frames left
# out a keyframe comes every 240 changes (16 s on the benchmark's timeline); seeking decodes at
# most that many frames, well under a second.
GOP_SECONDS = 10


@dataclass(frozen=True)
class AudioSource:
    """An audio file and where its first sample goes on the timeline (``offset_ms``, may be negative)."""

    path: Path
    offset_ms: int = 0


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


# -- frames --------------------------------------------------------------------------------


class _Fetcher:
    """Calls the async frame store from this worker thread: on the app's loop, or on a private one."""

    def __init__(self, store: FrameStore, loop: asyncio.AbstractEventLoop | None) -> None:
        self.store = store
        self.loop = loop
        self._own = asyncio.new_event_loop() if loop is None else None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._own is not None:
            return self._own.run_until_complete(coro)
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def fetch_all(self, keys: list[str], cancel: Callable[[], bool]) -> dict[str, bytes]:
        async def fetch() -> dict[str, bytes]:
            gate = asyncio.Semaphore(FETCH_CONCURRENCY)

            async def one(key: str) -> tuple[str, bytes]:
                async with gate:
                    if cancel():
                        raise Cancelled("export cancelled")
                    try:
                        return key, (await self.store.get(key)).data
                    except NotFound:
                        raise ExportError(f"frame {key!r} is missing from the frame store") from None

            return dict(await asyncio.gather(*(one(k) for k in keys)))

        return self.run(fetch())

    def close(self) -> None:
        if self._own is not None:
            self._own.run_until_complete(self._own.shutdown_default_executor())
            self._own.close()


class _FrameCache:
    """Converted frames by key, least recently used dropped first beyond ``max_bytes``.

    Frames are converted ahead of the encoder on ``pool`` in order of first use (``order``),
    so decoding overlaps encoding; a frame dropped by the LRU is converted again on demand.
    """

    def __init__(
        self,
        convert: Callable[[str], av.VideoFrame],
        frame_bytes: int,
        max_bytes: int,
        order: list[str],
        pool: concurrent.futures.Executor | None = None,
    ) -> None:
        self.convert = convert
        self.capacity = max(2, max_bytes // max(frame_bytes, 1))
        self.lookahead = min(CONVERT_AHEAD, self.capacity // 2)
        self.frames: OrderedDict[str, av.VideoFrame] = OrderedDict()
        self.pending: dict[str, concurrent.futures.Future[av.VideoFrame]] = {}
        self.order = order
        self.next = 0
        self.pool = pool
        self.conversions = 0

    def get(self, key: str) -> av.VideoFrame:
        frame = self.frames.get(key)
        if frame is not None:
            self.frames.move_to_end(key)
        else:
            future = self.pending.pop(key, None)
            frame = future.result() if future is not None else self.convert(key)
            self.conversions += 1
            self.frames[key] = frame
            if len(self.frames) > self.capacity:
                self.frames.popitem(last=False)
        self._ahead(key)
        return frame

    def _ahead(self, current: str) -> None:
        if self.pool is None:
            return
        while self.next < len(self.order) and len(self.pending) < self.lookahead:
            key = self.order[self.next]
            self.next += 1
            if key != current and key not in self.frames and key not in self.pending:
                self.pending[key] = self.pool.submit(self.convert, key)

    def close(self) -> None:
        for future in self.pending.values():
            future.cancel()
        self.pending.clear()


def decode_png(data: bytes, key: str) -> Image.Image:
    """A frame's bytes as an RGBA image (palette PNGs with transparency included)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ExportError(f"frame {key!r} is not a readable PNG: {exc}") from exc


def fit_rgba(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``im`` (RGBA) scaled to fit ``size`` keeping its aspect, centred on transparency."""
    w, h = size
    factor = min(w / im.width, h / im.height)
    fit = (max(1, round(im.width * factor)), max(1, round(im.height * factor)))
    if fit != im.size:
        # Pillow resamples RGBA premultiplied, so edges do not pick up the colour of transparent pixels.
        im = im.resize(fit, Image.Resampling.LANCZOS)
    if fit == size:
        return im
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    canvas.paste(im, ((w - fit[0]) // 2, (h - fit[1]) // 2))
    return canvas


def composite_palette(palette: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """A PAL8 palette (256 x 4 bytes, B G R A) with every entry composited over ``background``, opaque.

    The same ``src*a + bg*(1-a)`` as :func:`flatten`, rounded the same way, done once per colour.
    """
    bgra = palette.astype(np.uint16)
    alpha = bgra[:, 3:4]
    bg = np.array(background[::-1], dtype=np.uint16)  # B, G, R
    out = np.empty_like(palette)
    out[:, :3] = (bgra[:, :3] * alpha + bg * (255 - alpha) + 127) // 255
    out[:, 3] = 255
    return out


def decode_palette_frame(data: bytes, size: tuple[int, int], options: ExportOptions) -> av.VideoFrame | None:
    """A palette PNG at the output size, converted for the encoder without Pillow; else ``None``.

    Illustrated frames are often palette PNGs (our demo rig's are). FFmpeg's PNG decoder keeps
    the palette, so flattening onto the background is 256 colour blends instead of a blend per
    pixel, and the frame goes to swscale with no copies through Python: about a third of the
    Pillow path's cost. Frames that need resizing, and any other PNG, take the Pillow path.
    """
    # The header says whether this is an 8-bit palette PNG of the output size: other PNGs are
    # not decoded twice. (IHDR: width and height at bytes 16-23, bit depth 24, colour type 25.)
    header = (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), data[24:26])
    if data[:8] != PNG_SIGNATURE or header != (*size, bytes([8, PNG_PALETTE])):
        return None
    decoder: Any = av.CodecContext.create("png", "r")  # one per image: a reused one mixes up palettes
    decoder.thread_count = 1
    try:
        (frame,) = decoder.decode(av.Packet(data))
    except (av.FFmpegError, ValueError):
        return None  # the Pillow path decodes it again and reports a bad PNG clearly
    if frame.format.name != "pal8":
        return None
    # Tagged like the Pillow path's frames: unspecified range and matrix (the same YUV out, and no
    # colour change for libx264 to reconfigure on) and no picture type (a decoded PNG is an
    # I-frame, and encoders take a frame's type as an order: every frame a keyframe).
    frame.color_range, frame.colorspace = 0, 2
    frame.pict_type = av.video.frame.PictureType.NONE
    out: av.VideoFrame
    if options.has_alpha:
        out = frame.reformat(format="rgba").reformat(format=options.spec.pixel_format, interpolation=CHROMA_FILTER)
        return out
    palette = np.frombuffer(frame.planes[1], dtype=np.uint8).reshape(-1, 4)
    frame.planes[1].update(composite_palette(palette, options.background).tobytes())
    out = frame.reformat(format="rgb24").reformat(format=options.spec.pixel_format, interpolation=CHROMA_FILTER)
    return out


def flatten(im: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Straight-alpha RGBA composited over an opaque ``background`` (``src*a + bg*(1-a)``), as RGB."""
    out = Image.new("RGB", im.size, background)
    out.paste(im, (0, 0), im)  # the alpha band as the mask: a third of alpha_composite's cost
    return out


# -- audio ---------------------------------------------------------------------------------


def load_audio(source: AudioSource, start_ms: int, total_samples: int) -> np.ndarray:
    """Float32 samples at 48 kHz covering the export (channels x samples): placed at the offset,
    trimmed or padded. Mono stays mono (speech usually is: half the encoding work); anything
    else becomes stereo."""
    shift = (source.offset_ms - start_ms) * AUDIO_RATE // 1000  # where the file's first sample lands
    try:
        with av.open(str(source.path)) as container:
            if not container.streams.audio:
                raise ExportError(f"audio {source.path.name!r} has no audio stream")
            stream = container.streams.audio[0]
            layout = "mono" if stream.codec_context.layout.nb_channels == 1 else "stereo"
            out = np.zeros((1 if layout == "mono" else 2, total_samples), dtype=np.float32)
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=AUDIO_RATE)
            pos = shift
            for frame in container.decode(stream):
                for chunk in resampler.resample(frame):
                    pos = _place(out, chunk.to_ndarray(), pos)
                if pos >= total_samples:
                    break
            else:
                for chunk in resampler.resample(None):
                    pos = _place(out, chunk.to_ndarray(), pos)
    except ExportError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise ExportError(f"audio {source.path.name!r} cannot be decoded: {exc}") from exc
    return out


def _place(out: np.ndarray, samples: np.ndarray, pos: int) -> int:
    n = samples.shape[1]
    lo, hi = max(pos, 0), min(pos + n, out.shape[1])
    if lo < hi:
        out[:, lo:hi] = samples[: out.shape[0], lo - pos : hi - pos]
    return pos + int(n)


class _AudioTrack:
    """Feeds the samples to the audio encoder in codec-sized chunks, in step with the video."""

    def __init__(self, stream: Any, samples: np.ndarray, sample_format: str) -> None:
        self.stream = stream
        self.samples = samples
        self.format = sample_format
        self.chunk = stream.codec_context.frame_size or 1024
        self.pos = 0

    def encode_until(self, sample: int) -> list[Any]:
        packets: list[Any] = []
        end = min(sample, self.samples.shape[1])
        while self.pos < end:
            n = min(self.chunk, self.samples.shape[1] - self.pos)
            packets += self.stream.encode(self._frame(self.pos, n))
            self.pos += n
        return packets

    def _frame(self, pos: int, n: int) -> av.AudioFrame:
        block = self.samples[:, pos : pos + n]
        if self.format == "fltp":
            array = np.ascontiguousarray(block)
        elif self.format == "flt":
            array = np.ascontiguousarray(block.T).reshape(1, -1)
        else:  # s16, interleaved
            array = (np.clip(block.T, -1.0, 1.0) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(array, format=self.format, layout=LAYOUTS[self.samples.shape[0]])
        frame.sample_rate = AUDIO_RATE
        frame.pts = pos
        frame.time_base = Fraction(1, AUDIO_RATE)
        return frame


# -- the renderer --------------------------------------------------------------------------


def _cancel_check(cancel: CancelCheck | None) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


def fetch_frames(
    store: FrameStore, keys: list[str], loop: asyncio.AbstractEventLoop | None = None, cancel: CancelCheck | None = None
) -> dict[str, bytes]:
    """The bytes of every distinct key in ``keys``, each fetched once (blocking; see :func:`render` for ``loop``).

    Raises :class:`ExportError` naming a frame missing from the store, or :class:`Cancelled`.
    """
    cancelled = _cancel_check(cancel)
    fetcher = _Fetcher(store, loop)
    try:
        pngs = fetcher.fetch_all(list(dict.fromkeys(keys)), cancelled)
    finally:
        fetcher.close()
    if cancelled():
        raise Cancelled("export cancelled")
    return pngs


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
    cancelled = _cancel_check(cancel)
    report = progress or (lambda done, total, stage: None)
    total = len(keys)
    output = Path(output)
    tmp = temp_path_for(output)
    distinct = list(dict.fromkeys(keys))
    try:
        if cancelled():
            raise Cancelled("export cancelled")
        first = decode_png(pngs[distinct[0]], distinct[0])
        width, height = options.output_size(first.size)
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
    track: _AudioTrack | None,
    keys: list[str],
    cache: _FrameCache,
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
            container.mux(track.encode_until((i + 1) * AUDIO_RATE // rate))
        report(i + 1, total, "encoding")


def _held(keys: list[str], i: int) -> int:
    """How many frame times ``keys[i]`` stays on screen from ``i`` on (1 for the last frame)."""
    n = 1
    while i + n < len(keys) - 1 and keys[i + n] == keys[i]:
        n += 1
    return n


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
        ctx.thread_count = encoder_threads
        if options.has_alpha:
            video.metadata["alpha_mode"] = "1"  # browsers only composite VP9 alpha with this tag
        track = None
        if samples is not None:
            channels = samples.shape[0]
            astream: Any = container.add_stream(spec.audio_codec, rate=AUDIO_RATE, layout=LAYOUTS[channels])
            astream.codec_context.format = sample_format
            if spec.audio_bit_rate is not None:
                astream.codec_context.bit_rate = spec.audio_bit_rate * channels
            astream.codec_context.time_base = Fraction(1, AUDIO_RATE)
            track = _AudioTrack(astream, samples, sample_format)

        def convert(key: str) -> av.VideoFrame:
            fast = decode_palette_frame(pngs[key], size, options)
            if fast is not None:
                return fast
            im = fit_rgba(decode_png(pngs[key], key), size)
            if options.has_alpha:
                rgba = av.VideoFrame.from_ndarray(np.asarray(im), format="rgba")
                return rgba.reformat(format=pix_fmt, interpolation=CHROMA_FILTER)
            # RGB24 in: swscale has an unscaled RGB24 -> YUV 4:2:0 path, 3x faster than from RGBA here.
            rgb = np.asarray(flatten(im, options.background))
            return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt, interpolation=CHROMA_FILTER)

        order = list(dict.fromkeys(keys))
        frame_bytes = int(width * height * spec.bytes_per_pixel)
        with concurrent.futures.ThreadPoolExecutor(CONVERT_THREADS, thread_name_prefix="export-convert") as pool:
            cache = _FrameCache(convert, frame_bytes, cache_bytes, order, pool)
            try:
                _encode_frames(container, video, track, keys, cache, rate, report, cancelled, options.variable_rate)
            finally:
                cache.close()
        container.mux(video.encode(None))
        if track is not None:
            container.mux(track.encode_until(track.samples.shape[1]))
            container.mux(track.stream.encode(None))
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
