"""The loudness mouth: any audio animates without a transcript, as PNGtuber tools do (pure numpy, no I/O).

The mouth follows the recording's loudness envelope (RMS over 10 ms frames, in dB against
the recording's own background and loud levels) of mono float samples at
:data:`~streamer.speech.alignment.features.RATE` (the caller resamples, as :mod:`streamer.speech.formats.pcm`
does while decoding): it opens when the level rises above an open threshold and closes only
when it falls below a lower close threshold (hysteresis, so it does not chatter on one
threshold), and every open or closed stretch lasts at least
``min_hold_ms``. Open stretches that get loud show a wide mouth, the others a half-open one.
The result is an :class:`~streamer.speech.model.Alignment` with no words whose phonemes are
these mouth shapes (``AA`` wide, ``EH`` half open; ``provider`` is ``loudness``), so the
same lip-sync and timeline code plays it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamer.speech.alignment.features import HOP, HOP_MS, RATE, frame_count
from streamer.speech.model import Alignment, Phoneme
from streamer.speech.units import samples_to_ms

WIDE, HALF = "AA1", "EH1"  # ARPAbet for the two open shapes (speaking_ah and speaking_ee in the default map)


@dataclass(frozen=True)
class LoudnessSettings:
    """Thresholds as fractions of the way from the background level to the loud level (dB)."""

    open_at: float = 0.35
    close_at: float = 0.2
    wide_at: float = 0.7
    min_range_db: float = 10.0  # quieter contrast than this is all background: the mouth stays shut
    min_hold_ms: int = 80


def envelope_db(samples: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """RMS level in dB of each 10 ms frame (20 ms windows centred on ``i * 10`` ms) of samples at :data:`RATE`."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    n = frame_count(len(x)) if len(x) else 0
    if n == 0:
        return np.zeros(0)
    padded = np.zeros(n * HOP + 2 * HOP)
    padded[HOP : HOP + len(x)] = x
    squares = np.concatenate([[0.0], np.cumsum(padded**2)])
    starts = np.arange(n) * HOP
    power = (squares[starts + 2 * HOP] - squares[starts]) / (2 * HOP)
    out: npt.NDArray[np.float64] = 10.0 * np.log10(np.maximum(power, 1e-12))
    return out


def mouth_states(level_db: npt.NDArray[np.float64], settings: LoudnessSettings) -> npt.NDArray[np.int8]:
    """Per frame: 0 closed, 1 half open, 2 wide, with hysteresis (minimum holds not applied yet)."""
    states = np.zeros(len(level_db), dtype=np.int8)
    if len(level_db) == 0:
        return states
    low, high = np.percentile(level_db, [10, 98])
    span = high - low
    if span < settings.min_range_db:
        return states
    open_db, close_db = low + settings.open_at * span, low + settings.close_at * span
    wide_db = low + settings.wide_at * span
    is_open = False
    for i, level in enumerate(level_db.tolist()):
        is_open = level >= close_db if is_open else level >= open_db
        if is_open:
            states[i] = 2 if level >= wide_db else 1
    return states


def hold(states: npt.NDArray[np.int8], min_frames: int) -> list[tuple[int, int, int]]:
    """Runs ``(start, stop, state)`` of ``states`` in which every run but the last lasts ``min_frames``.

    A shorter run takes the state of the run before it (the mouth holds what it showed); a
    short first run takes the state of the one after.
    """
    runs: list[list[int]] = []
    for i, s in enumerate(states.tolist()):
        if runs and runs[-1][2] == s:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1, s])
    out: list[list[int]] = []
    for run in runs:
        if out and (run[1] - run[0] < min_frames or out[-1][2] == run[2]):
            out[-1][1] = run[1]
        elif out and out[-1][1] - out[-1][0] < min_frames:
            out[-1][1], out[-1][2] = run[1], run[2]
        else:
            out.append(run)
    return [(a, b, s) for a, b, s in out]


def loudness_alignment(samples: npt.ArrayLike, settings: LoudnessSettings | None = None) -> Alignment:
    """A mouth that follows the loudness of mono ``samples`` at :data:`RATE`; ``provider`` is ``loudness``."""
    settings = settings or LoudnessSettings()
    x = np.asarray(samples)
    duration_ms = samples_to_ms(len(x), RATE)
    states = mouth_states(envelope_db(x), settings)
    min_frames = max(1, -(-settings.min_hold_ms // HOP_MS))
    phonemes: list[Phoneme] = []
    for start, stop, state in hold(states, min_frames):
        if state == 0:
            continue
        t_ms, end_ms = start * HOP_MS, min(stop * HOP_MS, duration_ms)
        if end_ms > t_ms:
            phonemes.append(Phoneme(t_ms, end_ms, "open" if state == 1 else "wide", HALF if state == 1 else WIDE))
    warnings = ["no transcript: the mouth follows the loudness of the audio"]
    if not phonemes:
        warnings.append("no speech found: the audio is silent or too even in level; the mouth stays closed")
    return Alignment([], phonemes, duration_ms, "loudness", [], warnings)
