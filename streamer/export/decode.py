"""Source frames for the encoder: fetched once, decoded, fitted, flattened and converted (blocking I/O).

Each distinct frame key is fetched once from the frame store (:func:`fetch_frames`), then
decoded, resized, composited over the background and converted to the encoder's pixel format
once (:func:`to_video_frame`) into an ``av.VideoFrame`` kept in a byte-bounded cache
(:class:`FrameCache`) that converts ahead of the encoder on a thread pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import av
import numpy as np
from PIL import Image

from streamer.core.errors import NotFound
from streamer.export.errors import Cancelled, ExportError
from streamer.export.options import ExportOptions
from streamer.frames import FrameStore

PNG_SIGNATURE, PNG_PALETTE = b"\x89PNG\r\n\x1a\n", 3
FETCH_CONCURRENCY = 16
# RGB to 4:2:0 with the chroma filter the ffmpeg command line uses (PyAV's default is bilinear): the
# same pixels as ffmpeg's conversion, which the benchmark's reference and the old method use.
CHROMA_FILTER = "BICUBIC"
CONVERT_AHEAD = 6

CancelCheck = threading.Event | Callable[[], bool]
T = TypeVar("T")


def cancel_check(cancel: CancelCheck | None) -> Callable[[], bool]:
    """``cancel`` (an Event, a callable or nothing) as a callable that says whether to stop."""
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


def fetch_frames(
    store: FrameStore, keys: list[str], loop: asyncio.AbstractEventLoop | None = None, cancel: CancelCheck | None = None
) -> dict[str, bytes]:
    """The bytes of every distinct key in ``keys``, each fetched once (blocking).

    ``loop``: as in :func:`streamer.export.render.render`. Raises :class:`ExportError` naming a
    frame missing from the store, or :class:`Cancelled`.
    """
    cancelled = cancel_check(cancel)
    fetcher = Fetcher(store, loop)
    try:
        pngs = fetcher.fetch_all(list(dict.fromkeys(keys)), cancelled)
    finally:
        fetcher.close()
    if cancelled():
        raise Cancelled("export cancelled")
    return pngs


class Fetcher:
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


class FrameCache:
    """Converted frames by key, for an encoder that asks for them in a known order (``uses``).

    Frames are converted ahead of the encoder on ``pool`` in order of use, so decoding overlaps
    encoding. A frame is kept only while a later use is coming, least recently used dropped
    first beyond ``max_bytes`` (then converted again when it comes back): a frame that is never
    asked for again costs no memory.
    """

    def __init__(
        self,
        convert: Callable[[str], av.VideoFrame],
        frame_bytes: int,
        max_bytes: int,
        uses: list[str],
        pool: concurrent.futures.Executor | None = None,
    ) -> None:
        self.convert = convert
        self.capacity = max(2, max_bytes // max(frame_bytes, 1))
        self.lookahead = min(CONVERT_AHEAD, self.capacity // 2)
        self.frames: OrderedDict[str, av.VideoFrame] = OrderedDict()
        self.pending: dict[str, concurrent.futures.Future[av.VideoFrame]] = {}
        self.uses = uses
        self.remaining = Counter(uses)
        self.next = 0
        self.pool = pool
        self.conversions = 0

    def get(self, key: str) -> av.VideoFrame:
        frame = self.frames.pop(key, None)
        if frame is None:
            future = self.pending.pop(key, None)
            frame = future.result() if future is not None else self.convert(key)
            self.conversions += 1
        self.remaining[key] -= 1
        if self.remaining[key] > 0:
            self.frames[key] = frame
            if len(self.frames) > self.capacity:
                self.frames.popitem(last=False)
        self._ahead(key)
        return frame

    def _ahead(self, current: str) -> None:
        if self.pool is None:
            return
        while self.next < len(self.uses) and len(self.pending) < self.lookahead:
            key = self.uses[self.next]
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


def png_size(data: bytes, key: str) -> tuple[int, int]:
    """A frame's width and height, from its header (nothing decoded)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
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
    """A palette PNG at the output size, converted for the format's encoder without Pillow; else ``None``.

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
    if not options.has_alpha:
        palette = np.frombuffer(frame.planes[1], dtype=np.uint8).reshape(-1, 4)
        frame.planes[1].update(composite_palette(palette, options.background).tobytes())
    # Through RGBA, opaque once flattened: the same pixels as through RGB24 (whose unscaled path
    # the Pillow path takes), and 0.8 ms a 1024x1536 frame less (swscale 9.5; 4.6 -> 3.8 ms).
    out: av.VideoFrame = frame.reformat(format="rgba").reformat(
        format=options.spec.pixel_format, interpolation=CHROMA_FILTER
    )
    return out


def flatten(im: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Straight-alpha RGBA composited over an opaque ``background`` (``src*a + bg*(1-a)``), as RGB."""
    out = Image.new("RGB", im.size, background)
    out.paste(im, (0, 0), im)  # the alpha band as the mask: a third of alpha_composite's cost
    return out


def to_video_frame(data: bytes, key: str, size: tuple[int, int], options: ExportOptions) -> av.VideoFrame:
    """A frame's PNG bytes as an ``av.VideoFrame`` in the format's pixel format at ``size``, ready for the encoder."""
    fast = decode_palette_frame(data, size, options)
    if fast is not None:
        return fast
    im = fit_rgba(decode_png(data, key), size)
    if options.has_alpha:
        rgba = av.VideoFrame.from_ndarray(np.asarray(im), format="rgba")
        return rgba.reformat(format=options.spec.pixel_format, interpolation=CHROMA_FILTER)
    # RGB24 in: swscale has an unscaled RGB24 -> YUV 4:2:0 path, 3x faster than from RGBA here.
    rgb = np.asarray(flatten(im, options.background))
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format=options.spec.pixel_format, interpolation=CHROMA_FILTER
    )
