"""The offline aligner: pure DTW, features and mapping, then real alignments of labelled recordings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from streamer.speech.alignment.align import (
    Reference,
    align,
    audible,
    confidences,
    first_rows,
    held_sound,
    long_runs_span,
    map_boundary,
    murmur,
    murmur_end,
    runs_at_least,
    transcript_words,
    unplaced_words,
    voiced_span,
)
from streamer.speech.alignment.dtw import Path, align_multiscale, align_window, full_window, project
from streamer.speech.alignment.features import (
    FEATURES,
    HOP_MS,
    RATE,
    cepstra,
    frame_count,
    log_energy_db,
    mel_power,
    periodicity,
    pool,
    subband_levels_db,
    voiced_mask,
)
from streamer.speech.alignment.recording import align_samples, check_transcript
from streamer.speech.errors import SpeechInputError
from streamer.speech.formats.pcm import load_pcm
from streamer.speech.model import Word
from tests.speech.align_fixtures import (
    EDGE_FIXTURES,
    PHRASES,
    Recording,
    boundary_errors_ms,
    breath,
    edge_errors_ms,
    make_recording,
)

# -- DTW -------------------------------------------------------------------------------------


def brute_force_cost(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook O(n*m) recurrence: diagonal steps weigh 2, vertical and horizontal 1."""
    c = np.linalg.norm(a[:, None, :].astype(np.float64) - b[None, :, :].astype(np.float64), axis=2)
    n, m = c.shape
    d = np.full((n + 1, m + 1), np.inf)
    d[0, 0] = 0.0
    for i, j in itertools.product(range(1, n + 1), range(1, m + 1)):
        if i == 1 and j == 1:
            d[i, j] = c[0, 0]
            continue
        d[i, j] = min(
            d[i - 1, j - 1] + 2 * c[i - 1, j - 1], d[i - 1, j] + c[i - 1, j - 1], d[i, j - 1] + c[i - 1, j - 1]
        )
    return float(d[n, m])


def path_cost(path: Path) -> float:
    total = float(path.cost[0])
    for k in range(1, len(path.rows)):
        diagonal = path.rows[k] > path.rows[k - 1] and path.cols[k] > path.cols[k - 1]
        total += float(path.cost[k]) * (2 if diagonal else 1)
    return total


def assert_valid_path(path: Path, n: int, m: int) -> None:
    assert (path.rows[0], path.cols[0]) == (0, 0)
    assert (path.rows[-1], path.cols[-1]) == (n - 1, m - 1)
    steps = set(zip(np.diff(path.rows).tolist(), np.diff(path.cols).tolist(), strict=True))
    assert steps <= {(1, 1), (1, 0), (0, 1)}


@pytest.mark.parametrize("seed", range(12))
def test_row_vectorised_dtw_finds_the_optimal_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(int(rng.integers(1, 25)), 3)).astype(np.float32)
    b = rng.normal(size=(int(rng.integers(1, 25)), 3)).astype(np.float32)
    path = align_window(a, b, *full_window(len(a), len(b)))
    assert_valid_path(path, len(a), len(b))
    assert path_cost(path) == pytest.approx(brute_force_cost(a, b))


def test_multiscale_dtw_recovers_a_known_warp_in_linear_memory() -> None:
    rng = np.random.default_rng(3)
    b = rng.normal(size=(3000, 8)).astype(np.float32)
    # a plays b slower, then faster, with a held stretch (a pause): a[i] is b[source[i]].
    source = np.concatenate([np.arange(0, 1000, 0.8), np.full(150, 1000.0), np.arange(1000, 3000, 1.25)]).astype(int)
    a = b[source] + 0.05 * rng.normal(size=(len(source), 8)).astype(np.float32)
    path = align_multiscale(a, b)
    assert_valid_path(path, len(a), len(b))
    matched = np.zeros(len(a), dtype=int)
    matched[path.rows] = path.cols  # the last column matched with each row
    assert np.median(np.abs(matched - source)) <= 1
    assert np.mean(np.abs(matched - source) <= 2) > 0.97


def test_an_open_end_leaves_the_extra_rows_unmatched() -> None:
    rng = np.random.default_rng(5)
    b = rng.normal(size=(2000, 8)).astype(np.float32)
    extra = rng.normal(size=(1500, 8)).astype(np.float32)  # a recording that goes on past b
    a = np.concatenate([b + 0.05 * rng.normal(size=b.shape).astype(np.float32), extra])
    closed, opened = align_multiscale(a, b), align_multiscale(a, b, open_end=True)
    assert closed.rows[-1] == len(a) - 1
    assert abs(int(opened.rows[-1]) - 1999) <= 2 and opened.cols[-1] == 1999
    on_diagonal = opened.rows[opened.rows < 1990] == opened.cols[opened.rows < 1990]
    assert on_diagonal.mean() > 0.95


def test_projected_window_contains_the_coarse_path_and_both_corners() -> None:
    coarse = Path(np.array([0, 1, 1, 2, 3]), np.array([0, 0, 1, 2, 3]), np.zeros(5))
    lo, hi = project(coarse, 2, 8, 8, radius=1)
    assert lo[0] == 0 and hi[-1] == 8
    assert np.all(np.diff(lo) >= 0) and np.all(np.diff(hi) >= 0) and np.all(lo[1:] <= hi[:-1])
    for r, c in zip(coarse.rows, coarse.cols, strict=True):
        for i in (2 * r, 2 * r + 1):
            assert lo[i] <= 2 * c and 2 * c + 1 < hi[i]


def test_bad_windows_are_refused() -> None:
    a = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="window"):
        align_window(a, a, np.array([0, 2, 2]), np.array([1, 3, 3]))  # rows 0 and 1 do not overlap
    with pytest.raises(ValueError, match="sequences"):
        align_multiscale(a[:0], a)


# -- features and mapping ----------------------------------------------------------------------


def tone(ms: int, freq: float = 220.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(ms * RATE // 1000) / RATE
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_features_are_unit_rows_one_per_10_ms() -> None:
    samples = np.concatenate([np.zeros(RATE // 2, dtype=np.float32), tone(500)])
    power = mel_power(samples)
    assert len(power) == frame_count(len(samples)) == 100
    features = cepstra(power)
    assert features.shape == (100, FEATURES)
    assert np.allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    assert pool(features, 4).shape == (25, FEATURES)


def test_voice_activity_finds_the_sound_and_ignores_the_hiss() -> None:
    rng = np.random.default_rng(0)
    samples = np.concatenate([np.zeros(RATE, dtype=np.float32), tone(1000), np.zeros(RATE, dtype=np.float32)])
    samples += rng.normal(0, 0.003, len(samples)).astype(np.float32)
    energy = 10 * np.log10(mel_power(samples).sum(1) + 1e-20)
    voiced = voiced_mask(energy)
    assert not voiced[:95].any() and voiced[105:195].all() and not voiced[205:].any()
    start, stop = voiced_span(voiced, 3)
    assert 96 <= start <= 98 and 202 <= stop <= 204  # the tone spans frames 100-200, plus 3 either side


def test_a_voice_is_periodic_and_breath_is_not() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(RATE) / RATE
    voice = (0.3 * np.sign(np.sin(2 * np.pi * 95 * t)) * np.exp(-((t - 0.5) ** 2))).astype(np.float32)  # a low voice
    assert np.median(periodicity(voice)[10:-10]) > 0.9
    assert np.median(periodicity(breath(1000, RATE, rng) * 0.1)[10:-10]) < 0.5
    assert np.median(periodicity(rng.normal(0, 0.1, RATE))[10:-10]) < 0.5


def test_short_runs_are_dropped() -> None:
    mask = np.array([1, 1, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1], dtype=bool)
    assert runs_at_least(mask, 3).astype(int).tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]
    assert long_runs_span(mask, 3) == (3, 14) and long_runs_span(mask, 5) is None


def band_noise(ms: int, rng: np.random.Generator, lo_hz: float, hi_hz: float, level: float) -> np.ndarray:
    """Noise between ``lo_hz`` and ``hi_hz`` at RMS ``level`` (an "s" above 4 kHz; a murmur, a vowel below 1 kHz)."""
    n = ms * RATE // 1000
    spectrum = np.fft.rfft(rng.normal(0.0, 1.0, n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[(freqs < lo_hz) | (freqs >= hi_hz)] = 0
    out = np.fft.irfft(spectrum, n)
    return out * level / out.std()


def test_a_quiet_s_and_murmur_under_hiss_are_held_sound_and_a_rooms_echo_is_not() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(0, 0.01, 4 * RATE)  # hiss throughout
    x[RATE : RATE + 2400] += band_noise(150, rng, 4000, 8000, 0.012)  # an "s": frames 100-115
    x[16 * RATE // 10 : 16 * RATE // 10 + 3200] += band_noise(200, rng, 100, 400, 0.006)  # a murmur: 160-180
    vowel = band_noise(800, rng, 100, 1000, 0.3)
    t = np.arange(len(vowel)) / RATE
    vowel *= np.where(t < 0.3, 1.0, 10 ** (-3 * (t - 0.3) / 0.5))  # 300 ms, then a 0.5 s room's echo
    x[25 * RATE // 10 : 25 * RATE // 10 + len(vowel)] += vowel  # frames 250-280, its echo after
    power = mel_power(x.astype(np.float32))
    levels = subband_levels_db(power)
    held, loud = held_sound(levels), audible(log_energy_db(power))
    assert held[101:115].all() and held[166:176].all() and held[252:280].all()
    assert loud[101:115].mean() < 0.5 and not loud[160:181].any()  # the whole frame's energy misses them
    assert (levels[285:300, 0] > 10).all()  # the echo stands well above the background for a while
    assert not held[:99].any() and not held[120:160].any() and not held[285:].any()  # but not held


def harmonics(ms: int, f0: float, count: int, level: float) -> np.ndarray:
    """A voice-like periodic sound: ``count`` equal harmonics of ``f0``, RMS ``level``."""
    t = np.arange(ms * RATE // 1000) / RATE
    out = sum(np.sin(2 * np.pi * f0 * k * t + k) for k in range(1, count + 1))
    return np.asarray(out) * level / np.std(out)


def test_a_faint_murmur_after_a_vowel_is_the_voice_and_an_echo_or_a_breath_is_not() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.01, 5 * RATE)  # hiss throughout
    # A vowel (frames 100-150), then its "m": 100 ms of low harmonics at about the hiss's level.
    x[RATE : RATE + 8000] += harmonics(500, 120, 8, 0.2)
    x[RATE + 8000 : RATE + 9600] += harmonics(100, 120, 3, 0.01)
    # A vowel (frames 250-280) ringing on in a 0.5 s room: periodic, and falling.
    vowel = harmonics(800, 110, 8, 0.2)
    t = np.arange(len(vowel)) / RATE
    x[25 * RATE // 10 : 25 * RATE // 10 + len(vowel)] += vowel * np.where(t < 0.3, 1, 10 ** (-3 * (t - 0.3) / 0.5))
    x[4 * RATE : 4 * RATE + 2400] += band_noise(150, rng, 100, 900, 0.012)  # a breath: frames 400-415
    x = x.astype(np.float32)
    levels = subband_levels_db(mel_power(x))
    murmurs = murmur(x, levels, 150, 450)
    assert not murmurs[:150].any() and not murmurs[450:].any()  # looked for in the window only
    # The "m" (frames 150-160; the vowel's last 30 ms smear over its first frames, smoothed levels).
    assert murmurs[153:160].mean() > 0.6 and murmur_end(murmurs, 153) in range(157, 164)
    # The echo: periodic and well above the hiss for 200 ms, but falling; the walk stops at once.
    assert (levels[285:300, 0] > 10).all() and murmur_end(murmurs, 280) <= 285
    assert not murmurs[395:420].any()  # the breath holds its level but has no pitch


def test_reference_boundaries_follow_the_path() -> None:
    # Recording rows 0-9 vs reference columns 0-4: the first reference frame is held for 5 rows.
    path = Path(np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), np.array([0, 0, 0, 0, 0, 1, 2, 3, 4, 4]), np.zeros(10))
    first = first_rows(path, 5)
    assert first.tolist() == [0, 5, 6, 7, 8, 10]
    # A reference time at frame 2 of a reference trimmed from frame 10, in a recording trimmed from 20.
    assert map_boundary(12 * HOP_MS, first, ref_start=10, rec_start=20) == (6 + 20) * HOP_MS
    assert map_boundary(0, first, ref_start=10, rec_start=20) == 20 * HOP_MS  # clamped to the start
    assert map_boundary(10**6, first, ref_start=10, rec_start=20) == 30 * HOP_MS  # and to the end


def test_confidence_falls_with_the_rank_of_the_matched_frames() -> None:
    path = Path(np.arange(400), np.arange(400), np.zeros(400))
    ranks = np.concatenate([np.zeros(200), np.full(200, 0.5)])
    good, bad = confidences([(0, 50), (350, 400)], path, ranks)
    assert good == 1.0 and bad == 0.0
    assert confidences([(500, 600)], path, ranks) == [0.0]  # no cells: nothing to vouch for it


def test_unplaced_words_keep_transcript_order() -> None:
    tokens = transcript_words("Hello, I'm here: 42 well-known friends!")
    assert tokens == ["Hello", "I'm", "here", "42", "well-known", "friends"]
    spoken = [
        Word(0, 1, "Hello"),
        Word(1, 2, "I'm"),
        Word(2, 3, "here"),
        Word(3, 4, "well-known"),
        Word(4, 5, "friends"),
    ]
    assert unplaced_words(tokens, spoken, missed=[2]) == ["here", "42"]


def test_a_spoken_word_may_hold_several_transcript_words() -> None:
    tokens = transcript_words("Hello! I am so happy.")
    spoken = [Word(0, 1, "Hello"), Word(1, 2, "I am"), Word(2, 3, "so"), Word(3, 4, "happy")]
    assert unplaced_words(tokens, spoken, missed=[]) == []
    assert unplaced_words(tokens, spoken, missed=[1]) == ["I", "am"]


# -- real alignments -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_voice() -> Recording:
    """A woman's British voice, slower and higher than the aligner's, with its own pauses, hiss and rate."""
    return make_recording(
        PHRASES[:6], voice="en-gb-x-rp+f4", rate_wpm=135, pitch=75, snr_db=20, sample_rate=44_100, seed=11
    )


def test_words_land_within_a_frame_of_the_truth(other_voice: Recording) -> None:
    rec = other_voice
    samples = load_pcm(rec.wav_bytes())
    alignment = align_samples(samples, rec.transcript)
    errors = boundary_errors_ms([(w.t_ms, w.end_ms, w.text) for w in alignment.words], rec.words)
    assert alignment.provider == "offline"
    assert len(alignment.words) >= 0.9 * len(rec.words)
    assert np.median(errors) < 40, errors
    assert np.mean(np.array(errors) < 100) > 0.9
    assert alignment.confidence > 0.7 and not [w for w in alignment.warnings if "low confidence" in w]
    # Phonemes stay inside their words and in order.
    spans = {(w.text, w.t_ms): w for w in alignment.words}
    assert spans and all(p.end_ms > p.t_ms for p in alignment.phonemes)
    assert all(a.t_ms <= b.t_ms for a, b in itertools.pairwise(alignment.phonemes))


def test_other_voices_rates_and_sample_rates_align_too() -> None:
    errors: list[int] = []
    for voice, rate_wpm, sample_rate, snr_db in [
        ("en-us+klatt2", 190, 8_000, 25),
        ("en-gb-scotland+m7", 150, 48_000, 15),
    ]:
        rec = make_recording(
            PHRASES[6:10], voice=voice, rate_wpm=rate_wpm, sample_rate=sample_rate, snr_db=snr_db, seed=rate_wpm
        )
        alignment = align_samples(load_pcm(rec.wav_bytes()), rec.transcript)
        errors += boundary_errors_ms([(w.t_ms, w.end_ms, w.text) for w in alignment.words], rec.words)
    assert np.median(errors) < 40


def test_a_transcript_of_other_words_is_reported_not_invented(other_voice: Recording) -> None:
    samples = load_pcm(other_voice.wav_bytes())
    alignment = align_samples(samples, " ".join(PHRASES[10:16]))
    assert alignment.unplaced and alignment.confidence < 0.6
    assert any("low confidence" in w for w in alignment.warnings)
    assert any("could not be placed" in w for w in alignment.warnings)


def test_a_transcript_with_an_extra_sentence_leaves_it_unplaced(other_voice: Recording) -> None:
    rec = other_voice
    samples = load_pcm(rec.wav_bytes())
    alignment = align_samples(samples, rec.transcript + " Six slippery snails slid slowly seaward.")
    assert {"snails", "slid", "slowly", "seaward"} & set(alignment.unplaced)
    assert len(alignment.words) >= 0.85 * len(rec.words)


def test_a_transcript_of_the_first_sentences_places_them_and_says_more_was_spoken(other_voice: Recording) -> None:
    rec = other_voice
    samples = load_pcm(rec.wav_bytes())
    alignment = align_samples(samples, " ".join(PHRASES[:2]))
    found = [(w.t_ms, w.end_ms, w.text) for w in alignment.words]
    assert found[-1][2] == "shore" and len(found) >= 15
    assert np.median(boundary_errors_ms(found, rec.words)) < 40
    assert any("matches no transcript word" in w for w in alignment.warnings)


def test_silence_with_a_transcript_does_not_crash() -> None:
    alignment = align_samples(np.zeros(RATE * 2, dtype=np.float32), "hello there")
    assert alignment.duration_ms == 2000 and alignment.warnings


@pytest.mark.parametrize("transcript", ["", "   ", "!!! ...", "x" * 20_001, None])
def test_unusable_transcripts_are_refused(transcript: str) -> None:
    with pytest.raises(SpeechInputError, match="^transcript: "):
        check_transcript(transcript)
    assert check_transcript("  Hello there.\n") == "Hello there."


def test_a_reference_with_nothing_speakable_is_refused_before_any_work() -> None:
    silence = np.zeros(RATE, dtype=np.float32)
    with pytest.raises(SpeechInputError, match="^transcript: nothing to align"):
        align(silence, "...", Reference(silence, [], []))


EDGE_MS = 60


@pytest.mark.parametrize("k", range(len(EDGE_FIXTURES)), ids=[f.name for f in EDGE_FIXTURES])
def test_the_first_and_last_words_keep_their_edges_through_breath_clicks_and_rooms(k: int) -> None:
    fixture = EDGE_FIXTURES[k]
    rec = fixture.make(seed=100 + k)
    alignment = align_samples(load_pcm(rec.wav_bytes()), rec.transcript)
    found = [(w.t_ms, w.end_ms, w.text) for w in alignment.words]
    first, last = edge_errors_ms(found, rec.words)
    assert first is not None and abs(first) <= EDGE_MS, (first, last)
    assert last is not None and abs(last) <= EDGE_MS, (first, last)
    assert np.median(boundary_errors_ms(found, rec.words)) < 20  # and the words between stay put
