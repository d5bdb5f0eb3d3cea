"""Encode speech audio as WAV or Ogg/Opus bytes (in memory, no file I/O; Opus needs PyAV)."""

from __future__ import annotations

import io
import wave
from typing import Any

import numpy as np

from streamer.speech.model import Speech, SpeechError, SpeechInputError

OPUS_RATE = 48_000  # libopus takes 8/12/16/24/48 kHz; espeak's 22.05 kHz is resampled


def to_wav_bytes(speech: Speech) -> bytes:
    """A 16-bit mono PCM WAV file of ``speech`` at its own sample rate."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(speech.sample_rate)
        out.writeframes(np.asarray(speech.samples, dtype="<i2").tobytes())
    return buf.getvalue()


def to_ogg_bytes(speech: Speech, bit_rate: int = 32_000) -> bytes:
    """An Ogg/Opus file of ``speech`` (48 kHz mono), byte-for-byte reproducible.

    Raises :class:`SpeechError` if PyAV is not installed. The Opus pre-skip is recorded in the
    stream header, so decoders return audio aligned with the original samples.
    """
    if not 6_000 <= bit_rate <= 510_000:
        raise SpeechInputError(f"bit_rate: must be in [6000, 510000], got {bit_rate}")
    if len(speech.samples) == 0:
        raise SpeechInputError("speech: has no samples to encode")
    try:
        import av
    except ImportError as exc:
        raise SpeechError("Ogg/Opus encoding needs PyAV (pip install av)") from exc

    buf = io.BytesIO()
    # bitexact: no random stream serial and no encoder version tag, so output is reproducible.
    with av.open(buf, "w", format="ogg", options={"fflags": "+bitexact"}) as container:
        stream: Any = container.add_stream("libopus", rate=OPUS_RATE, options={"flags": "+bitexact"})
        stream.layout = "mono"
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(speech.samples, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = speech.sample_rate
        frame.pts = 0
        resampler = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE)
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()
