"""The loudness mouth: opens on sound, closes in silence, with hysteresis and minimum holds (pure)."""

from __future__ import annotations

import numpy as np

from streamer.core.rig import DEFAULT_VISEMES
from streamer.speech.alignment.features import RATE
from streamer.speech.alignment.loudness import LoudnessSettings, envelope_db, hold, loudness_alignment, mouth_states
from streamer.speech.lipsync.visemes import speech_track
from streamer.speech.model import Phoneme
from tests.speech.align_fixtures import PHRASES, make_recording


def burst(ms: int, level: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(ms * RATE // 1000) / RATE
    return (level * np.sin(2 * np.pi * 180 * t) * (1 + 0.3 * rng.standard_normal(len(t)))).astype(np.float32)


def quiet(ms: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0, 0.002, ms * RATE // 1000).astype(np.float32)


def open_ms(alignment_phonemes: list[Phoneme], t0: int, t1: int) -> int:
    return sum(max(0, min(p.end_ms, t1) - max(p.t_ms, t0)) for p in alignment_phonemes)


def test_mouth_opens_on_sound_and_closes_in_silence() -> None:
    rng = np.random.default_rng(1)
    # silence 0-500, loud 500-1500, silence 1500-2500, soft 2500-3000, silence 3000-4000
    samples = np.concatenate(
        [quiet(500, rng), burst(1000, 0.5, rng), quiet(1000, rng), burst(500, 0.05, rng), quiet(1000, rng)]
    )
    alignment = loudness_alignment(samples)
    assert alignment.provider == "loudness" and alignment.words == [] and alignment.duration_ms == 4000
    phonemes = alignment.phonemes
    assert open_ms(phonemes, 550, 1450) == 900  # open all through the loud burst
    assert open_ms(phonemes, 2550, 2950) == 400  # and the soft one
    assert open_ms(phonemes, 0, 450) == 0 and open_ms(phonemes, 1600, 2450) == 0 and open_ms(phonemes, 3100, 4000) == 0
    assert {p.arpabet for p in phonemes if p.t_ms < 1500} == {"AA1"}  # loud: wide open
    assert {p.arpabet for p in phonemes if p.t_ms > 2000} == {"EH1"}  # soft: half open


def test_a_level_between_the_thresholds_keeps_the_mouth_as_it_was() -> None:
    settings = LoudnessSettings(min_range_db=0)
    # background 0 dB, loud 100 dB: open at 35, close at 20.
    levels = np.array([0.0] * 10 + [100.0] * 5 + [30.0] * 5 + [10.0] * 5 + [30.0] * 5 + [0.0] * 20)
    states = mouth_states(levels, settings)
    assert states[10:20].all()  # 30 dB after 100: still open (above the close threshold)
    assert not states[20:30].any()  # 30 dB after 10: stays shut (below the open threshold)


def test_short_runs_are_held_so_the_mouth_never_flickers() -> None:
    states = np.array([0] * 10 + [2] * 2 + [0] * 10 + [1] * 10 + [0] * 3 + [1] * 10, dtype=np.int8)
    runs = hold(states, 8)
    assert runs == [(0, 22, 0), (22, 45, 1)]
    assert all(b - a >= 8 for a, b, _ in runs)


def test_silence_and_a_flat_hum_keep_the_mouth_shut() -> None:
    assert loudness_alignment(np.zeros(RATE, dtype=np.float32)).phonemes == []
    hum = np.sin(2 * np.pi * 50 * np.arange(RATE * 2) / RATE).astype(np.float32) * 0.2
    alignment = loudness_alignment(hum)
    assert alignment.phonemes == [] and any("no speech found" in w for w in alignment.warnings)
    assert envelope_db(np.zeros(0)).size == 0


def test_speech_animates_through_the_usual_lip_sync() -> None:
    rec = make_recording(PHRASES[:2], voice="en-us+m3", sample_rate=RATE, seed=5)
    alignment = loudness_alignment(rec.samples)
    track = speech_track(alignment.phonemes, DEFAULT_VISEMES)
    assert {c["viseme"] for c in track} <= {"speaking_ah", "speaking_ee"} and len(track) >= 6
    # The mouth is open while the words are spoken, and shut in the pause between the phrases.
    spoken = sum(w.end_ms - w.t_ms for w in rec.words)
    assert sum(open_ms(alignment.phonemes, w.t_ms, w.end_ms) for w in rec.words) > 0.6 * spoken
    gap = (rec.words[8].end_ms + 80, rec.words[9].t_ms - 80)  # "dog" ... "She"
    assert gap[1] > gap[0] and open_ms(alignment.phonemes, *gap) == 0
