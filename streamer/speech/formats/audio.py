"""Encode speech audio as WAV, Ogg/Opus or other PyAV codecs' bytes (in memory, no file I/O; all but WAV need PyAV)."""

from __future__ import annotations

import io
import wave
from typing import Any

import numpy as np

from streamer.speech.errors import SpeechError, SpeechInputError
from streamer.speech.model import Speech

OPUS_RATE = 48_000  # libopus takes 8/12/16/24/48 kHz; espeak's 22.05 kHz is resampled
# libopus's encoder complexity (0-10, its default 10). Live segments use 6: half the CPU time
# (14 against 28 ms for 2 s of espeak-ng speech), with decoded audio as close to a 128 kbps
# encoding (19.3 against 18.6 dB SNR), in files about 40 % larger. Below 7 libopus turns off
# some of its analysis, which is where the time goes.
OPUS_COMPLEXITY, LIVE_OPUS_COMPLEXITY = 10, 6


def to_wav_bytes(speech: Speech) -> bytes:
    """A 16-bit mono PCM WAV file of ``speech`` at its own sample rate."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(speech.sample_rate)
        out.writeframes(np.asarray(speech.samples, dtype="<i2").tobytes())
    return buf.getvalue()


def to_ogg_bytes(speech: Speech, bit_rate: int = 32_000, complexity: int = OPUS_COMPLEXITY) -> bytes:
    """An Ogg/Opus file of ``speech`` (48 kHz mono), byte-for-byte reproducible.

    ``complexity`` is the encoder's (0-10): lower is faster, at some cost in quality per bit.

    Raises :class:`SpeechError` if PyAV is not installed. The Opus pre-skip is recorded in the
    stream header, so decoders return audio aligned with the original samples.
    """
    if not 6_000 <= bit_rate <= 510_000:
        raise SpeechInputError(f"bit_rate: must be in [6000, 510000], got {bit_rate}")
    if not 0 <= complexity <= 10:
        raise SpeechInputError(f"complexity: must be in [0, 10], got {complexity}")
    return encode_audio(speech, "ogg", "libopus", OPUS_RATE, bit_rate, {"compression_level": str(complexity)})


def encode_audio(
    speech: Speech,
    container_format: str,
    codec: str,
    rate: int,
    bit_rate: int,
    codec_options: dict[str, str] | None = None,
) -> bytes:
    """``speech`` encoded by PyAV's ``codec`` at ``rate`` Hz, mono, in a ``container_format`` file.

    The output is byte-for-byte reproducible. Raises :class:`SpeechInputError` if ``speech``
    has no samples and :class:`SpeechError` if PyAV is not installed.
    """
    if len(speech.samples) == 0:
        raise SpeechInputError("speech: has no samples to encode")
    try:
        import av
    except ImportError as exc:
        raise SpeechError(f"{codec} encoding needs PyAV (pip install av)") from exc

    buf = io.BytesIO()
    # bitexact: no random stream serial and no encoder version tag, so output is reproducible.
    with av.open(buf, "w", format=container_format, options={"fflags": "+bitexact"}) as container:
        stream: Any = container.add_stream(codec, rate=rate, options={"flags": "+bitexact", **(codec_options or {})})
        stream.layout = "mono"
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(speech.samples, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = speech.sample_rate
        frame.pts = 0
        # The codec's own first sample format (s16 for Opus, planar for MP3).
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()
