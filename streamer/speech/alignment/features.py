"""Acoustic features for alignment: log-mel cepstra, frame energy and a voice-activity mask (pure numpy, no I/O).

Every function takes mono float samples at :data:`RATE` (16 kHz) and works on 10 ms frames
centred on ``frame_index * HOP_MS`` milliseconds (the signal is padded by half a window on
each side), so frame ``i`` of any signal describes the same instant, ``i * 10`` ms. Spectra
are computed in blocks of frames so that memory stays bounded for long recordings.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

RATE = 16_000
HOP = 160  # samples: 10 ms
HOP_MS = HOP * 1000 // RATE
WINDOW = 400  # samples: 25 ms
N_FFT = 512
N_MELS = 40
N_CEPS = 13
FEATURES = 3 * N_CEPS  # cepstra, deltas, delta-deltas
F_MIN, F_MAX = 80.0, 7_600.0
BLOCK_FRAMES = 4_096  # frames per spectrum block (bounds the temporary arrays to ~8 MB)
FLOOR_DB = 55.0  # mel energies more than this far below the loudest band are floored

Floats = npt.NDArray[np.float32]


def _mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@lru_cache(maxsize=1)
def mel_filters() -> npt.NDArray[np.float64]:
    """Triangular mel filters, shape ``(N_MELS, N_FFT // 2 + 1)``."""
    edges = _hz(np.linspace(_mel(np.array(F_MIN)), _mel(np.array(F_MAX)), N_MELS + 2))
    bins = np.fft.rfftfreq(N_FFT, 1.0 / RATE)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    filters: npt.NDArray[np.float64] = np.maximum(0.0, np.minimum(rising, falling))
    return filters


@lru_cache(maxsize=1)
def _dct() -> npt.NDArray[np.float64]:
    """Orthonormal DCT-II rows ``0 .. N_CEPS-1`` over ``N_MELS`` bands."""
    n = np.arange(N_MELS)
    k = np.arange(N_CEPS)[:, None]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * N_MELS)) * np.sqrt(2.0 / N_MELS)
    basis[0] /= np.sqrt(2.0)
    out: npt.NDArray[np.float64] = basis.T
    return out


def frame_count(n_samples: int) -> int:
    """How many 10 ms frames a signal of ``n_samples`` has (at least 1)."""
    return max(1, -(-n_samples // HOP))


def mel_power(samples: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Mel-band power per frame, shape ``(frame_count(len(samples)), N_MELS)``."""
    x = np.asarray(samples, dtype=np.float32).ravel()
    n_frames = frame_count(len(x))
    emphasised = np.empty_like(x)
    if len(x):
        emphasised[0] = x[0]
        emphasised[1:] = x[1:] - 0.97 * x[:-1]
    half = WINDOW // 2
    padded = np.zeros(n_frames * HOP + WINDOW, dtype=np.float32)
    padded[half : half + len(x)] = emphasised
    window = np.hamming(WINDOW).astype(np.float32)
    filters = mel_filters().T.astype(np.float32)
    out = np.empty((n_frames, N_MELS), dtype=np.float64)
    for start in range(0, n_frames, BLOCK_FRAMES):
        stop = min(n_frames, start + BLOCK_FRAMES)
        frames = np.lib.stride_tricks.sliding_window_view(padded[start * HOP : (stop - 1) * HOP + WINDOW], WINDOW)
        spectrum = np.fft.rfft(frames[::HOP] * window, n=N_FFT)
        out[start:stop] = (spectrum.real**2 + spectrum.imag**2) @ filters
    return out


def log_energy_db(power: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Frame energy in dB from :func:`mel_power` (silence is floored, never ``-inf``)."""
    energy = power.sum(axis=1)
    peak = float(energy.max()) if energy.size else 0.0
    floor = max(peak * 1e-12, 1e-20)
    out: npt.NDArray[np.float64] = 10.0 * np.log10(np.maximum(energy, floor))
    return out


def _normalise(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Zero mean and unit variance per column."""
    x = x - x.mean(axis=0)
    std = x.std(axis=0)
    out: npt.NDArray[np.float64] = x / np.where(std > 1e-9, std, 1.0)
    return out


def deltas(x: npt.NDArray[np.float64], width: int = 2) -> npt.NDArray[np.float64]:
    """The regression slope of each column over ``2 * width + 1`` frames (edges repeated)."""
    n = len(x)
    padded = np.pad(x, ((width, width), (0, 0)), mode="edge")
    slope = sum(
        k * (padded[width + k : n + width + k] - padded[width - k : n + width - k]) for k in range(1, width + 1)
    )
    out: npt.NDArray[np.float64] = np.asarray(slope) / (2 * sum(k * k for k in range(1, width + 1)))
    return out


def cepstra(power: npt.NDArray[np.float64]) -> Floats:
    """The alignment features per frame, shape ``(frames, FEATURES)``, each row of unit length.

    Log-mel energies are floored ``FLOOR_DB`` below the loudest band, and a noise floor (a low
    percentile of each band) is added before the log, so that digital silence and a quiet
    room's hiss look alike. The cepstra, their deltas and delta-deltas are each normalised to
    zero mean and unit variance over the utterance (which cancels the microphone, the level
    and much of the voice), then every frame is scaled to unit length, so the Euclidean
    distance between frames is a cosine distance (measured on labelled recordings of other
    voices: it halves the mean boundary error against plain cepstra).
    """
    if power.size == 0:
        return np.zeros((0, FEATURES), dtype=np.float32)
    peak = float(power.max()) or 1.0
    noise = np.percentile(power, 10, axis=0)
    floor = np.maximum(noise, peak * 10 ** (-FLOOR_DB / 10))
    ceps = np.log(power + floor[None, :]) @ _dct()
    d1 = deltas(ceps)
    features = np.hstack([_normalise(ceps), _normalise(d1), _normalise(deltas(d1))])
    features /= np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-9)
    return features.astype(np.float32)


def voiced_mask(energy_db: npt.NDArray[np.float64], min_range_db: float = 12.0) -> npt.NDArray[np.bool_]:
    """Frames that carry sound rather than background, from frame energies in dB.

    The threshold sits a quarter of the way from the background level (10th percentile) to
    the loud level (98th percentile), at least 6 dB above the background. A signal whose
    range is under ``min_range_db`` is all sound (nothing stands out as silence).
    """
    if energy_db.size == 0:
        return np.zeros(0, dtype=bool)
    low, high = np.percentile(energy_db, [10, 98])
    if high - low < min_range_db:
        return np.ones(energy_db.shape, dtype=bool)
    threshold = low + max(6.0, 0.25 * (high - low))
    mask: npt.NDArray[np.bool_] = energy_db > threshold
    return mask


SUBBAND_MELS = 8  # mel bands per sub-band: five sub-bands, from a voice's murmur to an "s"
SUBBAND_SMOOTH = 3  # frames averaged: a 30 ms sub-band level


def subband_levels_db(power: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each frame's level in dB above the background in each sub-band, shape ``(frames, N_MELS // SUBBAND_MELS)``.

    From :func:`mel_power`: groups of :data:`SUBBAND_MELS` mel bands, averaged over
    :data:`SUBBAND_SMOOTH` frames, less the sub-band's background (its 10th percentile over
    the signal, as :func:`voiced_mask` takes it; floored 90 dB under the loudest level, so
    digital silence does not make every whisper loud). Whole-frame energy is ruled by the
    band where hiss is loudest (pre-emphasis lifts white noise's highs), so a quiet sound in
    another band, a nasal's low murmur or an "s" above the hiss's own level, is lost in it;
    band by band, it stands out.
    """
    n = len(power)
    if n == 0:
        return np.zeros((0, N_MELS // SUBBAND_MELS))
    sub = power.reshape(n, N_MELS // SUBBAND_MELS, SUBBAND_MELS).sum(axis=2)
    half = SUBBAND_SMOOTH // 2
    padded = np.pad(sub, ((half, SUBBAND_SMOOTH - 1 - half), (0, 0)), mode="edge")
    mean = np.lib.stride_tricks.sliding_window_view(padded, SUBBAND_SMOOTH, axis=0).mean(axis=2)
    level = 10.0 * np.log10(np.maximum(mean, max(float(mean.max()) * 1e-9, 1e-30)))
    out: npt.NDArray[np.float64] = level - np.percentile(level, 10, axis=0)
    return out


PITCH_WINDOW = 640  # samples: 40 ms, two periods of a 50 Hz voice
MIN_LAG, MAX_LAG = RATE // 400, RATE // 60  # pitch from 400 Hz down to 60 Hz


@lru_cache(maxsize=1)
def _window_autocorrelation() -> npt.NDArray[np.float64]:
    window = np.hanning(PITCH_WINDOW)
    spectrum = np.fft.rfft(window, n=2 * PITCH_WINDOW)
    ac = np.fft.irfft(np.abs(spectrum) ** 2, n=2 * PITCH_WINDOW)[: MAX_LAG + 1]
    out: npt.NDArray[np.float64] = ac / ac[0]
    return out


def periodicity(samples: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """How periodic each 10 ms frame is, 0..1: the highest normalised autocorrelation at a pitch lag.

    A voice (a vowel, a nasal, a voiced consonant) scores near 1; breath, hiss, clicks and
    fricatives score low. The autocorrelation of a Hann-windowed 40 ms frame is divided by the
    window's own (Boersma's correction), so low voices are not penalised. Frames as in
    :func:`mel_power` (frame ``i`` centred on sample ``i * HOP``).
    """
    x = np.asarray(samples, dtype=np.float32).ravel()
    n_frames = frame_count(len(x))
    half = PITCH_WINDOW // 2
    padded = np.zeros(n_frames * HOP + PITCH_WINDOW, dtype=np.float32)
    padded[half : half + len(x)] = x
    window = np.hanning(PITCH_WINDOW).astype(np.float32)
    window_ac = _window_autocorrelation()[MIN_LAG:]
    out = np.zeros(n_frames, dtype=np.float64)
    for start in range(0, n_frames, BLOCK_FRAMES):
        stop = min(n_frames, start + BLOCK_FRAMES)
        view = np.lib.stride_tricks.sliding_window_view(
            padded[start * HOP : (stop - 1) * HOP + PITCH_WINDOW], PITCH_WINDOW
        )
        frames = view[::HOP]
        frames = (frames - frames.mean(axis=1, keepdims=True)) * window
        spectrum = np.fft.rfft(frames, n=2 * PITCH_WINDOW)
        ac = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=2 * PITCH_WINDOW)[:, : MAX_LAG + 1]
        energy = np.maximum(ac[:, :1], 1e-12)
        out[start:stop] = np.clip((ac[:, MIN_LAG:] / energy / window_ac).max(axis=1), 0.0, 1.0)
    return out


def pool(features: Floats, factor: int) -> Floats:
    """Average every ``factor`` consecutive frames (the last group may be shorter)."""
    if factor <= 1:
        return features
    n = len(features)
    groups = -(-n // factor)
    padded = np.zeros((groups * factor, features.shape[1]), dtype=np.float64)
    padded[:n] = features
    sums = padded.reshape(groups, factor, -1).sum(axis=1)
    counts = np.full(groups, factor, dtype=np.float64)
    counts[-1] = n - (groups - 1) * factor
    out: Floats = (sums / counts[:, None]).astype(np.float32)
    return out
