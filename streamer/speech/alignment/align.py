"""The offline aligner: place a transcript's words and phonemes in a recording (pure, no I/O).

How it works: espeak-ng speaks the transcript (the *reference*, whose word and phoneme times
are exact; :func:`streamer.speech.alignment.recording.read_reference` makes it, at the I/O edge), both
signals become unit-length cepstral features at 100 frames per second
(:mod:`streamer.speech.alignment.features`), their silent ends are trimmed (the recording's to where
its voice starts and ends, so that a breath, a lip click or a room's echo is not taken for the
first or last word, and to the end of the unvoiced sound after it, an "s" under hiss:
:func:`trim_to_voice`), dynamic time warping
matches recording frames with reference frames (:mod:`streamer.speech.alignment.dtw`, banded and
multiscale, so a 10 minute recording costs a few seconds and little memory), and every
reference boundary is carried over the warping path into the recording. Each word gets a
confidence from how its matched frames rank against unrelated reference frames
(:func:`cell_ranks`), blended with its neighbourhood. Words under :data:`MIN_CONFIDENCE`, or
squeezed under :data:`MIN_WORD_MS`, are reported in ``unplaced``, never guessed.

Tried and measured on the labelled fixtures (other espeak voices, rates, pauses, noise;
``python -m benchmarks.align``) and left out because they made it worse: cutting silences
out of words by voice activity, and speaking the reference at the recording's rate; for the
last word's end, sub-band sound with no test for a room's echo (ends up to 120 ms late in
rooms), a second, 90 ms, sub-band scale for fainter murmurs (every end 20-30 ms late), and
keeping a faint sound that holds its level after the voice (it finds the Klatt voice's last
murmur, and a 0.8 s hall's echo in its lowest band too: 134 ms late on one seed); what is kept,
:func:`murmur`, also asks for a pitch below 1 kHz and takes a drop after a vowel, then a hold.

Public API::

    align(samples, transcript, reference) -> Alignment     samples and reference.samples: mono float at RATE
    Reference(samples, words, phonemes)                    espeak-ng's reading of the transcript

Everything here is a pure function of arrays with its own tests; the transcript comes checked
(:func:`streamer.speech.alignment.recording.check_transcript`). Raises
:class:`~streamer.speech.errors.SpeechInputError` when the reference has nothing speakable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from streamer.speech.alignment.dtw import Path, align_multiscale
from streamer.speech.alignment.features import (
    HOP,
    HOP_MS,
    RATE,
    cepstra,
    log_energy_db,
    mel_power,
    periodicity,
    subband_levels_db,
    voiced_mask,
)
from streamer.speech.errors import SpeechInputError
from streamer.speech.model import LOW_CONFIDENCE, AlignedWord, Alignment, Phoneme, Word
from streamer.speech.timing import TOKEN
from streamer.speech.units import samples_to_ms

MIN_CONFIDENCE = 0.2  # below this a word is reported as unplaced
GOOD_RANK, BAD_RANK = 0.03, 0.2  # cell ranks (see cell_ranks) that mean confidence 1 and 0
CONTEXT_ROWS = 100  # a word's confidence also looks 1 s either side
MIN_WORD_MS = 30  # a word squeezed shorter than this was not found in the recording
UNCOVERED_WARN_MS = 1_500  # this much sound matched with no word gets a warning
REFERENCE_RATE_WPM = 165  # matching the recording's rate measured worse on the labelled fixtures
SILENCE_MARGIN_FRAMES = 3  # kept around the voiced part when trimming silence (30 ms)
PITCHED = 0.6  # periodicity above this is a voice (breath, clicks and hiss score lower)
EDGE_FRAMES = 300  # periodicity is computed this far (3 s) inside each edge of the sound
MIN_PITCHED_FRAMES = 5  # a voice lasts at least 50 ms; shorter periodic blips are not speech
AUDIBLE_DB = 6.0  # a voice fading out is still sounding this far above the background
FAINT_DB = 1.0  # a periodic sound this far above the background is still the voice
FADE_MS = 150  # the last word may fade out this long past where the warping path ends
MAX_GAP_MS = 120  # a silence this long after the last voiced sound ends the speech (a stop closure is shorter)
HELD_DB, HELD_SPREADS = 2.0, 4.0  # a sub-band this far above its background (dB, and its spreads) carries a sound
ROOM_DECAY_DB, ROOM_DECAY_FRAMES = 3.0, 5  # a room's echo falls 60 dB per RT60: 3 dB in 50 ms if RT60 is 1 s
MIN_HELD_FRAMES = 4  # one loud frame of hiss spreads over SUBBAND_SMOOTH (3) frames; a "t" burst lasts longer
MURMUR_BANDS = 2  # the sub-bands under about 1 kHz
MURMUR_SPREADS = 2.5  # a murmur stands this many of the background's spreads above it (see held_sound)
MURMUR_HZ = 900  # a voice's murmur is periodic below this; a hiss has little of its power there
MURMUR_GAP_FRAMES = 2  # a hiss hides a murmur this long now and then
MURMUR_PERIODIC = 0.55  # low-band periodicity of a murmur; a hiss alone scores about 0.3-0.45 there

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Reference:
    """The transcript as espeak-ng reads it: mono float ``samples`` at :data:`RATE`, exact word and phoneme times."""

    samples: npt.ArrayLike
    words: Sequence[Word]
    phonemes: Sequence[Phoneme]


@dataclass(frozen=True)
class Signal:
    """Features of one signal: cepstra, voiced mask, and the voiced span ``[start, stop)`` in frames.

    ``energy_db`` is each frame's energy; ``pitched`` the span ``[first, last + 1)`` of frames
    where a voice sounds (periodic and above the background, in runs of
    :data:`MIN_PITCHED_FRAMES` or more), ``None`` if none does; ``held`` the frames where some
    sub-band holds a sound above its background (:func:`held_sound`); ``murmur``: :func:`murmur`.
    """

    ceps: Floats
    voiced: npt.NDArray[np.bool_]
    start: int
    stop: int
    energy_db: npt.NDArray[np.float64]
    periodicity: npt.NDArray[np.float64]
    pitched: tuple[int, int] | None
    held: npt.NDArray[np.bool_]
    murmur: npt.NDArray[np.bool_]


def analyse(samples: npt.ArrayLike) -> Signal:
    """Cepstra and voice activity of mono float samples at :data:`RATE` (pure)."""
    power = mel_power(samples)
    energy_db = log_energy_db(power)
    voiced = voiced_mask(energy_db)
    start, stop = voiced_span(voiced, SILENCE_MARGIN_FRAMES)
    x = np.asarray(samples, dtype=np.float32).ravel()
    periodic = edge_periodicity(x, start, stop, len(voiced))
    pitched = long_runs_span(voiced & (periodic > PITCHED), MIN_PITCHED_FRAMES)
    if pitched is None or pitched[0] >= start + EDGE_FRAMES or pitched[1] <= stop - EDGE_FRAMES:
        periodic = periodicity(samples)[: len(voiced)]  # no voice near an edge: look everywhere
        pitched = long_runs_span(voiced & (periodic > PITCHED), MIN_PITCHED_FRAMES)
    levels_db = subband_levels_db(power)
    murmurs = murmur(x, levels_db, pitched[1], stop + EDGE_FRAMES // 3) if pitched else np.zeros(len(voiced), bool)
    return Signal(cepstra(power), voiced, start, stop, energy_db, periodic, pitched, held_sound(levels_db), murmurs)


def edge_periodicity(x: Floats, start: int, stop: int, n_frames: int) -> npt.NDArray[np.float64]:
    """:func:`periodicity` of the frames near the sound's edges only (the rest 0): it costs more than
    the other features, and only the edges need it. The end window reaches past ``stop``, where a
    voice may fade on under the speech threshold."""
    out = np.zeros(n_frames)
    for lo, hi in ((start, start + EDGE_FRAMES), (stop - EDGE_FRAMES, stop + EDGE_FRAMES // 3)):
        lo, hi = max(lo, 0), min(hi, n_frames)
        if hi > lo:
            out[lo:hi] = periodicity(x[lo * HOP : hi * HOP])[: hi - lo]
    return out


def long_runs_span(mask: npt.NDArray[np.bool_], min_run: int) -> tuple[int, int] | None:
    """``[start of the first run, end of the last run)`` over the runs of ``mask`` at least ``min_run`` long."""
    where = np.flatnonzero(runs_at_least(mask, min_run))
    return (int(where[0]), int(where[-1]) + 1) if where.size else None


def runs_at_least(mask: npt.NDArray[np.bool_], min_run: int) -> npt.NDArray[np.bool_]:
    """``mask`` without its runs shorter than ``min_run`` frames."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    starts, stops = edges[::2], edges[1::2]
    long = stops - starts >= min_run
    delta = np.zeros(len(mask) + 1, dtype=np.int64)
    np.add.at(delta, starts[long], 1)
    np.add.at(delta, stops[long], -1)
    out: npt.NDArray[np.bool_] = np.cumsum(delta)[:-1] > 0
    return out


def sound_end(voiced: npt.NDArray[np.bool_], end: int, max_gap: int) -> int:
    """The end of the sound going on at frame ``end``, across gaps shorter than ``max_gap`` frames."""
    last = end
    for i in np.flatnonzero(voiced[end:]) + end:
        if i - last > max_gap:
            break
        last = int(i) + 1
    return max(last, end)


def faint_voice_end(sig: Signal, end: int) -> int:
    """Past ``end`` while the voice goes on, periodic, however faint (a last vowel fading into the room)."""
    floor = float(np.percentile(sig.energy_db, 10)) + FAINT_DB
    while end < len(sig.periodicity) and sig.periodicity[end] > PITCHED and sig.energy_db[end] > floor:
        end += 1
    return end


def murmur_end(murmurs: npt.NDArray[np.bool_], end: int) -> int:
    """Past ``end`` while the voice murmurs on (``murmurs``), across gaps of up to :data:`MURMUR_GAP_FRAMES`."""
    while True:
        ahead = np.flatnonzero(murmurs[end : end + MURMUR_GAP_FRAMES + 1])
        if ahead.size == 0:
            return end
        end += int(ahead[0]) + 1


def held_sound(levels_db: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Frames where some sub-band (:func:`subband_levels_db`) stands above its background, by
    :data:`HELD_DB` and by :data:`HELD_SPREADS` times the background's own spread, and has not
    fallen like a room's echo (by :data:`ROOM_DECAY_DB` or more from its highest over the last
    :data:`ROOM_DECAY_FRAMES` frames), in runs of :data:`MIN_HELD_FRAMES` or more.

    This finds what the whole-frame energy misses at the end of speech under hiss (the "s" of
    "six" after its silent "k", a nasal's low murmur) without taking a room's echo for speech:
    an echo only falls, at the room's rate; a sound the speaker makes holds or rises.
    """
    held = np.any(steady_above(levels_db, HELD_SPREADS), axis=1)
    return runs_at_least(held, MIN_HELD_FRAMES)


def steady_above(levels_db: npt.NDArray[np.float64], spreads: float) -> npt.NDArray[np.bool_]:
    """Per frame and sub-band: above the background (``spreads`` of its spread) and not falling like an echo."""
    padded = np.concatenate([np.repeat(levels_db[:1], ROOM_DECAY_FRAMES, axis=0), levels_db])
    recent = np.lib.stride_tricks.sliding_window_view(padded[:-1], ROOM_DECAY_FRAMES, axis=0).max(axis=2)
    loud = levels_db >= np.maximum(HELD_DB, spreads * background_spread(levels_db))
    return np.asarray(loud & (levels_db > recent - ROOM_DECAY_DB))


def background_spread(levels_db: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each sub-band's background spread: its 10th percentile (0 dB here) less its 1st, about one
    standard deviation of a hiss's level; wide in the low sub-bands, which hold few FFT bins."""
    return np.asarray(np.maximum(-np.percentile(levels_db, 1, axis=0), 0.0))


def murmur(x: Floats, levels_db: npt.NDArray[np.float64], lo: int, hi: int) -> npt.NDArray[np.bool_]:
    """Frames of ``[lo, hi)`` (the rest ``False``) where a voice murmurs on under the hiss.

    An "m" under 15 dB of hiss is too faint for :func:`held_sound`, too noisy to look periodic
    over the whole band, and follows its vowel too closely for the echo test. Here, in the
    sub-bands under about 1 kHz: the level stands :data:`MURMUR_SPREADS` above the background
    and holds (has not fallen like an echo over the last :data:`ROOM_DECAY_FRAMES` frames, or
    does not over the next ones: an echo falls before and after; a murmur drops once after the
    vowel, then holds), and the sound below :data:`MURMUR_HZ` is periodic over three frames
    (:data:`MURMUR_PERIODIC`: a breath holds its level but has no pitch; an echo has one, but falls).
    """
    out = np.zeros(len(levels_db), dtype=bool)
    lo, hi = max(lo, 0), min(hi, len(levels_db))
    if hi - lo < 3:
        return out
    low = levels_db[:, :MURMUR_BANDS]
    padded = np.concatenate([low, np.repeat(low[-1:], ROOM_DECAY_FRAMES, axis=0)])
    coming = np.lib.stride_tricks.sliding_window_view(padded[1:], ROOM_DECAY_FRAMES, axis=0).min(axis=2)
    holds = steady_above(low, MURMUR_SPREADS) | (
        (low >= np.maximum(HELD_DB, MURMUR_SPREADS * background_spread(low))) & (coming > low - ROOM_DECAY_DB)
    )
    segment = x[lo * HOP : hi * HOP]
    spectrum = np.fft.rfft(segment)
    spectrum[np.fft.rfftfreq(len(segment), 1 / RATE) > MURMUR_HZ] = 0
    periodic = periodicity(np.fft.irfft(spectrum, len(segment)))[: hi - lo]
    smooth = np.convolve(periodic, np.ones(3) / 3, mode="same")
    out[lo:hi] = holds.any(axis=1)[lo:hi] & (smooth > MURMUR_PERIODIC)
    return out


def audible(energy_db: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Frames above the background (the 10th percentile of frame energy) by :data:`AUDIBLE_DB`."""
    mask: npt.NDArray[np.bool_] = energy_db > np.percentile(energy_db, 10) + AUDIBLE_DB
    return mask


def sounding(sig: Signal) -> npt.NDArray[np.bool_]:
    """Frames that carry sound: :func:`audible` as a whole, or :func:`held <held_sound>` in a sub-band."""
    mask: npt.NDArray[np.bool_] = audible(sig.energy_db) | sig.held
    return mask


def trim_to_voice(rec: Signal, ref: Signal, first_ms: int, last_ms: int) -> Signal:
    """``rec`` with its span cut to its voice and what belongs around it, as the reference shows.

    Energy alone takes a breath, a lip click or a room's echo for speech: the first word
    then starts too early, and the warping path, having speech to spread over breath, ended
    the last word too early. A voice is periodic; the sounds around it are not. The span
    starts before the recording's first voiced frame by as much unvoiced sound as the
    reference has before its own (the "s" of "six"; its first word starts at ``first_ms``),
    and ends where the sound after the last voiced frame stops (:func:`sounding`: loud as a
    whole, or held in a sub-band above the hiss), across gaps shorter than
    :data:`MAX_GAP_MS` (a final "t" or the "er" of "bitter", which voices end more weakly than
    the reference does), plus whatever the reference's last word (ending at ``last_ms``) has
    past its own. Falls back to the energy span when either signal has no voice.
    """
    if rec.pitched is None or ref.pitched is None:
        return rec
    gap = MAX_GAP_MS // HOP_MS
    lead = max(ref.pitched[0] - to_frame(first_ms), 0)
    tail = max(to_frame(last_ms) - sound_end(sounding(ref), ref.pitched[1], gap), 0)
    start = max(rec.pitched[0] - lead - SILENCE_MARGIN_FRAMES, 0)
    end = faint_voice_end(rec, sound_end(sounding(rec), rec.pitched[1], gap))
    end = murmur_end(rec.murmur, end)
    stop = min(end + tail + SILENCE_MARGIN_FRAMES, len(rec.voiced))
    return replace(rec, start=start, stop=stop) if stop > start else rec


def to_voice_end(last: AlignedWord, rec: Signal, last_row: int) -> AlignedWord:
    """The last word, ending where the recording's voice ends if the path stopped just short of it.

    The warping path may end a few frames before the trimmed span does (its open end leaves
    out frames that match the reference poorly, and a voice fading into the room matches
    poorly): up to :data:`FADE_MS` of them are the last word's fading end, not other speech.
    """
    voice_end_ms = (rec.stop - SILENCE_MARGIN_FRAMES) * HOP_MS
    path_end_ms = (rec.start + last_row + 1) * HOP_MS
    if last.end_ms < voice_end_ms and voice_end_ms - path_end_ms <= FADE_MS:
        return replace(last, end_ms=voice_end_ms)
    return last


def voiced_span(voiced: npt.NDArray[np.bool_], margin: int) -> tuple[int, int]:
    """``[first, last + 1)`` of the voiced frames widened by ``margin``; everything if none is voiced."""
    where = np.flatnonzero(voiced)
    if where.size == 0:
        return 0, len(voiced)
    return max(0, int(where[0]) - margin), min(len(voiced), int(where[-1]) + 1 + margin)


def first_rows(path: Path, n_cols: int) -> Ints:
    """For each column ``j`` of the path (and ``n_cols`` for the end), the first row matched with it."""
    first = np.full(n_cols + 1, path.rows[-1] + 1, dtype=np.int64)
    np.minimum.at(first, path.cols, path.rows)
    return first


def to_frame(t_ms: int) -> int:
    """The frame boundary nearest ``t_ms`` (frame ``i`` is centred on ``i * HOP_MS``)."""
    return (t_ms + HOP_MS // 2) // HOP_MS


def map_boundary(t_ms: int, first: Ints, ref_start: int, rec_start: int) -> int:
    """Carry a reference time (ms) to the recording over the path (``first`` from :func:`first_rows`)."""
    col = min(max(to_frame(t_ms) - ref_start, 0), len(first) - 1)
    return int((first[col] + rec_start) * HOP_MS)


def cell_ranks(path: Path, rec: Floats, ref: Floats, sample: int = 400, seed: int = 0) -> npt.NDArray[np.float64]:
    """For each pair of ``path``, the share of random ``ref`` frames closer to the recording frame (pure).

    A recording frame matched with the reference sound it really is lies closer to it than
    to almost any other frame (rank near 0); a forced match lies no closer than many
    unrelated frames. Being a rank, it does not depend on how far the voices are apart.
    Deterministic for a ``seed``.
    """
    rng = np.random.default_rng(seed)
    others = ref[rng.integers(0, len(ref), min(sample, max(len(ref), 1)))].astype(np.float32)
    out = np.empty(len(path.rows))
    for start in range(0, len(path.rows), 4096):
        stop = min(len(path.rows), start + 4096)
        frames = rec[path.rows[start:stop]]
        sq = (frames**2).sum(1)[:, None] + (others**2).sum(1)[None, :] - 2.0 * frames @ others.T
        dist = np.sqrt(np.maximum(sq, 0.0))
        out[start:stop] = (dist < path.cost[start:stop, None]).mean(axis=1)
    return out


def confidences(spans: Sequence[tuple[int, int]], path: Path, ranks: npt.NDArray[np.float64]) -> list[float]:
    """Confidence 0..1 of each span of recording rows ``[start, stop)`` from the path's cell ranks (pure).

    A span's rank is the mean over its cells, blended half and half with the mean over the
    :data:`CONTEXT_ROWS` rows around it, since a wrong transcript is wrong for a stretch, not
    one word. Rank :data:`GOOD_RANK` or less is confidence 1, :data:`BAD_RANK` or more is 0.
    """
    cum = np.concatenate([[0.0], np.cumsum(ranks)])

    def mean_rank(r0: int, r1: int) -> float | None:
        lo, hi = np.searchsorted(path.rows, r0), np.searchsorted(path.rows, r1)
        return float((cum[hi] - cum[lo]) / (hi - lo)) if hi > lo else None

    out = []
    for r0, r1 in spans:
        own = mean_rank(r0, r1)
        around = mean_rank(r0 - CONTEXT_ROWS, r1 + CONTEXT_ROWS)
        if own is None or around is None:
            out.append(0.0)
            continue
        rank = 0.5 * own + 0.5 * around
        out.append(round(float(np.clip((BAD_RANK - rank) / (BAD_RANK - GOOD_RANK), 0.0, 1.0)), 3))
    return out


def transcript_words(transcript: str) -> list[str]:
    """The words of a transcript as the aligner counts them (letters and digits, with ' or -)."""
    return TOKEN.findall(transcript)


def place(
    path: Path,
    rec: Signal,
    ref: Signal,
    words: Sequence[Word],
    phonemes: Sequence[Phoneme],
    ranks: npt.NDArray[np.float64],
) -> tuple[list[AlignedWord], list[Phoneme], list[int]]:
    """Reference words and phonemes carried into the recording (pure).

    ``path`` matches ``rec``'s voiced span (rows) with ``ref``'s (columns) and ``ranks`` are
    its :func:`cell_ranks`. Returns ``(placed words, their phonemes, indices of the words
    not placed)``: a word is not placed when it is squeezed under :data:`MIN_WORD_MS` or its
    confidence is under :data:`MIN_CONFIDENCE`. Each phoneme is clipped to its word's span.
    """
    first = first_rows(path, ref.stop - ref.start)

    def carry(t_ms: int) -> int:
        return map_boundary(t_ms, first, ref.start, rec.start)

    mapped = [(carry(w.t_ms), carry(w.end_ms)) for w in words]
    rows = [(t_ms // HOP_MS - rec.start, -(-end_ms // HOP_MS) - rec.start) for t_ms, end_ms in mapped]
    placed: list[AlignedWord] = []
    unplaced: list[int] = []
    spans: dict[int, tuple[int, int]] = {}
    scores = confidences(rows, path, ranks)
    for k, (w, (t_ms, end_ms), confidence) in enumerate(zip(words, mapped, scores, strict=True)):
        if end_ms - t_ms < MIN_WORD_MS or confidence < MIN_CONFIDENCE:
            unplaced.append(k)
            continue
        placed.append(AlignedWord(t_ms, end_ms, w.text, confidence))
        spans[k] = (t_ms, end_ms)

    out: list[Phoneme] = []
    k = -1
    for p in phonemes:
        if p.is_pause or p.word is None:
            continue
        while k + 1 < len(words) and words[k + 1].t_ms <= p.t_ms:
            k += 1
        span = spans.get(k)
        if span is None:
            continue
        t_ms = min(max(carry(p.t_ms), span[0]), span[1])
        end_ms = min(max(carry(p.end_ms), span[0]), span[1])
        if end_ms > t_ms:
            out.append(Phoneme(t_ms, end_ms, p.symbol, p.arpabet, p.word))
    return placed, out, unplaced


def uncovered_ms(path: Path, rec: Signal, ref: Signal, words: Sequence[Word]) -> int:
    """How much of the recording's sound is matched with no reference word: speech the transcript lacks (pure)."""
    in_word = np.zeros(ref.stop - ref.start, dtype=bool)
    for w in words:
        in_word[max(to_frame(w.t_ms) - ref.start, 0) : max(to_frame(w.end_ms) - ref.start, 0)] = True
    rows = np.unique(path.rows[~in_word[path.cols]])
    after = rec.voiced[rec.start + int(path.rows[-1]) + 1 : rec.stop]  # past the end of the transcript
    return (int(rec.voiced[rows + rec.start].sum()) + int(after.sum())) * HOP_MS


def unplaced_words(tokens: Sequence[str], spoken: Sequence[Word], missed: Sequence[int]) -> list[str]:
    """Transcript words in order that espeak did not time or the aligner did not place (``missed`` indices).

    One spoken word may hold several transcript words (espeak speaks "I am" as one word).
    """
    out: list[str] = []
    missed_set = set(missed)
    i = k = 0
    while i < len(tokens):
        parts = transcript_words(spoken[k].text) if k < len(spoken) else []
        if parts and list(tokens[i : i + len(parts)]) == parts:
            if k in missed_set:
                out.extend(parts)
            i, k = i + len(parts), k + 1
        else:
            out.append(tokens[i])
            i += 1
    return out


def align(samples: npt.ArrayLike, transcript: str, reference: Reference) -> Alignment:
    """Place ``transcript`` in ``samples`` (mono float at :data:`RATE`) by its ``reference`` reading; ``offline``.

    ``transcript`` is the checked transcript and ``reference`` espeak-ng's reading of it at
    :data:`REFERENCE_RATE_WPM` (see :func:`streamer.speech.alignment.recording.align_samples`). Never
    invents a word: those it cannot place are listed in ``unplaced``, with readable
    ``warnings`` when the transcript as a whole does not seem to match, or the recording has
    speech the transcript lacks. Raises :class:`SpeechInputError` when the reference has no
    words. Blocking (CPU); run it off the event loop.
    """
    if not reference.words:
        raise SpeechInputError("transcript: nothing to align (no speakable words)")
    tokens = transcript_words(transcript)
    x = np.asarray(samples, dtype=np.float32)
    duration_ms = samples_to_ms(len(x), RATE)
    ref = analyse(reference.samples)
    rec = trim_to_voice(analyse(x), ref, reference.words[0].t_ms, reference.words[-1].end_ms)

    rec_ceps = rec.ceps[rec.start : rec.stop]
    ref_ceps = ref.ceps[ref.start : ref.stop]
    path = align_multiscale(rec_ceps, ref_ceps, open_end=True)
    ranks = cell_ranks(path, rec_ceps, ref_ceps)
    words, phonemes, missed = place(path, rec, ref, reference.words, reference.phonemes, ranks)
    if words and len(reference.words) - 1 not in missed:
        words[-1] = to_voice_end(words[-1], rec, int(path.rows[-1]))
    unplaced = unplaced_words(tokens, reference.words, missed)

    alignment = Alignment(words, phonemes, duration_ms, "offline", unplaced, [])
    warnings = alignment.warnings
    if not rec.voiced.any():
        warnings.append("the recording seems silent")
    if unplaced:
        shown = ", ".join(repr(w) for w in unplaced[:8]) + (" ..." if len(unplaced) > 8 else "")
        warnings.append(f"{len(unplaced)} of {len(tokens)} transcript words could not be placed: {shown}")
    if words and alignment.confidence < LOW_CONFIDENCE:
        warnings.append(f"low confidence ({alignment.confidence:.2f}): the transcript may not match the recording")
    extra_ms = uncovered_ms(path, rec, ref, reference.words)
    if extra_ms >= UNCOVERED_WARN_MS:
        warnings.append(
            f"about {extra_ms / 1000:.1f} s of the recording's sound matches no transcript word"
            " (is the transcript complete?)"
        )
    return alignment
