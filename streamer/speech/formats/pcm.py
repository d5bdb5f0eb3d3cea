"""Any audio file to mono float PCM at one rate, and resampling, with PyAV (I/O edge: reads files).

Accepts what the audio store accepts (WAV, MP3, OGG Vorbis/Opus, M4A/AAC, FLAC) from a path
or from bytes, resampling while it decodes so that memory holds only the result (a 10 minute
recording at 16 kHz is 38 MB). Errors are :class:`~streamer.storage.AudioError` (a
``ValueError``) whose message says what is wrong: not audio, no samples, or over the cap.
:func:`decode_audio` keeps the file's own rate and gives int16 samples, for audio that
services return (ElevenLabs).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamer.speech.alignment.features import RATE
from streamer.speech.errors import SpeechError
from streamer.storage import AudioError

Floats = npt.NDArray[np.float32]


def _resampler(rate: int) -> Any:
    import av

    return av.AudioResampler(format="flt", layout="mono", rate=rate)


def _append(out: list[Floats], frames: list[Any]) -> int:
    n = 0
    for frame in frames:
        chunk = frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        out.append(chunk)
        n += len(chunk)
    return n


def _too_long(max_duration_ms: int) -> AudioError:
    return AudioError(f"too long: the audio is over the limit of {max_duration_ms / 1000:g} s")


def decode_pcm(
    source: bytes | str | Path, rate: int | None = RATE, max_duration_ms: int | None = None
) -> tuple[Floats, int]:
    """The first audio stream of ``source`` (a path or the file's bytes), mono float32, and its rate.

    ``rate`` resamples to that rate; ``None`` keeps the stream's own. Raises :class:`AudioError`
    if it cannot be opened or decoded as audio, has no samples, or (with ``max_duration_ms``) is
    longer than that; decoding stops as soon as the cap is passed, so an hour-long file costs no
    more than the cap. Blocking; keep it off the event loop.
    """
    import av

    target: Any = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    chunks: list[Floats] = []
    total = 0
    try:
        with av.open(target, mode="r") as container:
            if not container.streams.audio:
                raise AudioError(f"not audio: no audio stream found (format {container.format.name!r})")
            stream: Any = container.streams.audio[0]
            rate = rate or int(stream.codec_context.sample_rate or stream.rate or 0)
            if rate <= 0:
                raise AudioError("not audio: unknown sample rate")
            max_samples = None if max_duration_ms is None else max_duration_ms * rate // 1000
            resampler = _resampler(rate)
            for frame in container.decode(stream):
                frame.pts = None  # resample by sample count: some files have holes in their timestamps
                total += _append(chunks, resampler.resample(frame))
                if max_duration_ms is not None and max_samples is not None and total > max_samples:
                    raise _too_long(max_duration_ms)
            total += _append(chunks, resampler.resample(None))
    except AudioError:
        raise
    except (av.FFmpegError, OSError, ValueError, IndexError, EOFError) as exc:
        raise AudioError(f"not audio: {exc}") from exc
    if total == 0:
        raise AudioError("not audio: the audio stream has no samples")
    if max_duration_ms is not None and max_samples is not None and total > max_samples:
        raise _too_long(max_duration_ms)
    return np.concatenate(chunks), rate


def load_pcm(source: bytes | str | Path, rate: int = RATE, max_duration_ms: int | None = None) -> Floats:
    """:func:`decode_pcm` at ``rate``, the samples only."""
    return decode_pcm(source, rate, max_duration_ms)[0]


def decode_audio(data: bytes, what: str = "audio") -> tuple[npt.NDArray[np.int16], int]:
    """``(samples, sample_rate)`` of ``data``'s first audio stream, mono int16 at its own rate.

    Raises :class:`SpeechError` naming ``what`` when the bytes are not decodable audio.
    """
    try:
        pcm, rate = decode_pcm(data, None)
    except AudioError as exc:
        raise SpeechError(f"{what}: {exc}") from exc
    samples = np.clip(np.round(pcm * 32768.0), -32768, 32767).astype(np.int16)
    samples.setflags(write=False)
    return samples, rate


def resample(samples: npt.ArrayLike, sample_rate: int, rate: int = RATE) -> Floats:
    """Mono ``samples`` (int16, or float in [-1, 1]) at ``sample_rate``, as float32 at ``rate``."""
    import av

    x = np.asarray(samples)
    pcm = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
    if len(pcm) == 0 or sample_rate == rate:
        return pcm
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm.reshape(1, -1)), format="flt", layout="mono")
    frame.sample_rate = sample_rate
    resampler = _resampler(rate)
    chunks: list[Floats] = []
    _append(chunks, resampler.resample(frame))
    _append(chunks, resampler.resample(None))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
