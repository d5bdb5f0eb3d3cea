"""The export's sound: an audio file decoded, placed on the timeline, encoded beside the video (blocking I/O)."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from streamer.export.errors import ExportError

AUDIO_RATE = 48_000  # the export's sample rate, unless the format keeps the file's own (ExportFormat.audio_rates)
LAYOUTS = {1: "mono", 2: "stereo"}


@dataclass(frozen=True)
class AudioSource:
    """An audio file and where its first sample goes on the timeline (``offset_ms``, may be negative)."""

    path: Path
    offset_ms: int = 0


def load_audio(
    source: AudioSource, start_ms: int, frames: int, fps: int, keep_rates: frozenset[int] = frozenset()
) -> tuple[np.ndarray, int]:
    """Float32 samples covering the export's ``frames`` video frames (channels x samples) and
    their rate: placed at the offset, trimmed or padded. The file's own rate when ``keep_rates``
    holds it (22.05 kHz speech is not made 48 kHz for the encoder to spend twice the work on),
    else 48 kHz. Mono stays mono (speech usually is: half the encoding work); anything else
    becomes stereo."""
    try:
        with av.open(str(source.path)) as container:
            if not container.streams.audio:
                raise ExportError(f"audio {source.path.name!r} has no audio stream")
            stream = container.streams.audio[0]
            own_rate = stream.codec_context.sample_rate
            rate = own_rate if own_rate in keep_rates else AUDIO_RATE
            shift = (source.offset_ms - start_ms) * rate // 1000  # where the file's first sample lands
            total_samples = frames * rate // fps
            layout = "mono" if stream.codec_context.layout.nb_channels == 1 else "stereo"
            out = np.zeros((1 if layout == "mono" else 2, total_samples), dtype=np.float32)
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
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
    return out, rate


def _place(out: np.ndarray, samples: np.ndarray, pos: int) -> int:
    n = samples.shape[1]
    lo, hi = max(pos, 0), min(pos + n, out.shape[1])
    if lo < hi:
        out[:, lo:hi] = samples[: out.shape[0], lo - pos : hi - pos]
    return pos + int(n)


class AudioTrack:
    """Encodes the samples in codec-sized chunks on a thread of its own, ahead of the video.

    Muxing stays on the caller's thread: :meth:`packets_until` hands over the packets of the
    chunks that start before a sample (as a single-threaded encoder fed in step with the video
    would have made them, so the file is interleaved the same way), waiting only if the encoder
    is behind; :meth:`rest` the others, flushed. Start it after the container's header is
    written (``container.start_encoding()``): opening codecs is not thread-safe. :meth:`close`
    stops the thread early (cancel, error).
    """

    def __init__(self, stream: Any, samples: np.ndarray, rate: int, sample_format: str) -> None:
        self.stream = stream
        self.samples = samples
        self.format = sample_format
        self.rate = rate
        self.chunk = stream.codec_context.frame_size or 1024
        # (first sample of the chunk, its packets); the flush's packets come as chunk "total";
        # then None, or the exception that stopped the encoder.
        self._chunks: queue.SimpleQueue[tuple[int, list[Any]] | BaseException | None] = queue.SimpleQueue()
        self._held: tuple[int, list[Any]] | None = None  # taken from the queue, not handed over yet
        self._finished = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="export-audio", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        total = self.samples.shape[1]
        try:
            for pos in range(0, total, self.chunk):
                if self._stop.is_set():
                    return
                self._chunks.put((pos, self.stream.encode(self._frame(pos, min(self.chunk, total - pos)))))
            self._chunks.put((total, self.stream.encode(None)))
        except Exception as exc:  # raised again on the muxing thread, which turns it into an ExportError
            self._chunks.put(exc)
        finally:
            self._chunks.put(None)

    def packets_until(self, sample: int) -> list[Any]:
        """The packets of the chunks starting before ``sample`` not handed over yet."""
        packets: list[Any] = []
        while not self._finished:
            if self._held is None:
                item = self._chunks.get()
                if item is None:
                    self._finished = True
                    break
                if isinstance(item, BaseException):
                    raise item
                self._held = item
            if self._held[0] >= sample:
                break
            packets += self._held[1]
            self._held = None
        return packets

    def rest(self) -> list[Any]:
        """Every packet not handed over yet, the encoder's flush included."""
        return self.packets_until(self.samples.shape[1] + 1)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _frame(self, pos: int, n: int) -> av.AudioFrame:
        block = self.samples[:, pos : pos + n]
        if self.format == "fltp":
            array = np.ascontiguousarray(block)
        elif self.format == "flt":
            array = np.ascontiguousarray(block.T).reshape(1, -1)
        else:  # s16, interleaved
            array = (np.clip(block.T, -1.0, 1.0) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(array, format=self.format, layout=LAYOUTS[self.samples.shape[0]])
        frame.sample_rate = self.rate
        frame.pts = pos
        frame.time_base = Fraction(1, self.rate)
        return frame
