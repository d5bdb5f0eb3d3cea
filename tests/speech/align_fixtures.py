"""Labelled recordings for the aligner's tests and benchmark: speech with known word times (no files kept).

A "recording" is spoken by espeak-ng with a different voice, rate and pitch than the
aligner's reference, in separate phrases joined by pauses of our choosing, then mixed with
noise and resampled. Its true word times come from the recording's own espeak events, offset
by where each phrase was placed.

What people add around their speech is synthesised here with numpy, offline: a breath in
before the first word and out after the last (band-limited noise with a smooth envelope), a lip
click just before the voice starts, and a room (the dry signal convolved with an exponentially
decaying noise tail of ``reverb_s`` RT60). None of them move the true word times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.speech.formats.audio import to_wav_bytes
from streamer.speech.formats.pcm import resample
from streamer.speech.model import Speech, Word
from streamer.speech.synthesis.espeak import synthesize


@dataclass(frozen=True, eq=False)
class Recording:
    """Mono float samples at ``sample_rate``, the transcript, and the true word times."""

    samples: np.ndarray
    sample_rate: int
    transcript: str
    words: list[Word]

    @property
    def duration_ms(self) -> int:
        return len(self.samples) * 1000 // self.sample_rate

    def wav_bytes(self) -> bytes:
        pcm = np.clip(self.samples * 32767.0, -32768, 32767).astype(np.int16)
        return to_wav_bytes(Speech(pcm, self.sample_rate))


PHRASES = [
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore",
    "and the shells she sells are surely sea shells.",
    "Peter Piper picked a peck of pickled peppers,",
    "but where is the peck of pickled peppers Peter Piper picked?",
    "How much wood would a woodchuck chuck if a woodchuck could chuck wood?",
    "I scream, you scream, we all scream for ice cream!",
    "Red lorry, yellow lorry, red lorry, yellow lorry.",
    "Betty Botter bought some butter, but she said the butter's bitter.",
    "If I put it in my batter, it will make my batter bitter.",
    "A big black bug bit a big black bear, made the big black bear bleed blood.",
    "Fuzzy Wuzzy was a bear. Fuzzy Wuzzy had no hair.",
    "Six slippery snails slid slowly seaward.",
    "Good morning everyone, and welcome back to the stream!",
    "Today we are going to build something wonderful together.",
    "Thank you all so much for watching, see you next time.",
]


@dataclass(frozen=True)
class EdgeFixture:
    """A recording made to test the first word's start and the last word's end (see :func:`make_recording`)."""

    name: str
    phrases: list[str]
    voice: str
    rate_wpm: int
    pitch: int
    snr_db: float
    sample_rate: int
    breath_db: float | None = None
    reverb_s: float | None = None
    lead_ms: int = 1000
    tail_ms: int = 1000

    def make(self, seed: int) -> Recording:
        return make_recording(
            self.phrases,
            voice=self.voice,
            rate_wpm=self.rate_wpm,
            pitch=self.pitch,
            snr_db=self.snr_db,
            sample_rate=self.sample_rate,
            breath_db=self.breath_db,
            reverb_s=self.reverb_s,
            lead_ms=self.lead_ms,
            tail_ms=self.tail_ms,
            seed=seed,
        )


# Breath and clicks before, breath after, rooms, silence, other voices, unvoiced last sounds:
# what real recordings have around their first and last words.
EDGE_FIXTURES = [
    EdgeFixture("rp-woman-breath", PHRASES[:5], "en-gb-x-rp+f4", 140, 70, 30.0, 44_100, breath_db=-18.0),
    EdgeFixture("us-man-room", PHRASES[5:10], "en-us+m3", 190, 35, 25.0, 22_050, breath_db=-22.0, reverb_s=0.5),
    EdgeFixture(
        "scots-loud-breath", PHRASES[8:13], "en-gb-scotland+m7", 120, 60, 20.0, 16_000, breath_db=-14.0, reverb_s=0.3
    ),
    EdgeFixture(
        "caribbean-hall", PHRASES[2:7], "en-029+f4", 150, 50, 20.0, 48_000, reverb_s=0.8, lead_ms=1500, tail_ms=1500
    ),
    EdgeFixture("klatt-breath-hiss", PHRASES[11:16], "en-us+klatt2", 160, 40, 15.0, 16_000, breath_db=-20.0),
    EdgeFixture("us-woman-high-room", PHRASES[12:16], "en-us+f1", 170, 85, 25.0, 22_050, breath_db=-18.0, reverb_s=0.4),
    # Unvoiced last sounds: the "ks" of "six" under hiss after a silent "k" closure; a "t" in a room.
    EdgeFixture(
        "steph-final-s-hiss",
        ["Fresh fruit is sold at the market", "every Saturday, just after six."],
        "en-us+steph",
        175,
        65,
        15.0,
        16_000,
        breath_db=-18.0,
    ),
    EdgeFixture(
        "andy-final-t-room",
        ["Stop talking and start walking,", "the last bus leaves at eight."],
        "en-us+Andy",
        165,
        50,
        20.0,
        44_100,
        breath_db=-18.0,
        reverb_s=0.4,
    ),
]


def make_recording(
    phrases: list[str],
    *,
    voice: str = "en-gb-x-rp+f3",
    rate_wpm: int = 140,
    pitch: int = 70,
    pauses_ms: list[int] | None = None,
    lead_ms: int = 400,
    tail_ms: int = 500,
    snr_db: float | None = 25.0,
    sample_rate: int = 44_100,
    seed: int = 1,
    breath_db: float | None = None,
    reverb_s: float | None = None,
) -> Recording:
    """Speak ``phrases`` one by one with ``voice`` and join them with ``pauses_ms`` of silence.

    ``breath_db``: a breath in ending just before the first word, a lip click right before it
    and a breath out after the last word, at this level against the speech (dB, e.g. -20).
    ``reverb_s``: a room with this reverberation time. ``lead_ms``/``tail_ms`` must leave room
    for the breaths (about 600 ms each).
    """
    rng = np.random.default_rng(seed)
    if pauses_ms is None:
        pauses_ms = [int(rng.integers(150, 700)) for _ in phrases[1:]]
    spoken = [synthesize(p, voice=voice, rate_wpm=rate_wpm, pitch=pitch) for p in phrases]
    words: list[Word] = []
    starts_ms: list[int] = []
    t_ms = lead_ms
    for k, speech in enumerate(spoken):
        starts_ms.append(t_ms)
        words += [Word(w.t_ms + t_ms, w.end_ms + t_ms, w.text) for w in speech.words]
        t_ms += speech.duration_ms + (pauses_ms[k] if k < len(pauses_ms) else tail_ms)
    rate = spoken[0].sample_rate
    clean = np.zeros(t_ms * rate // 1000 + 1, dtype=np.float32)
    for start_ms, speech in zip(starts_ms, spoken, strict=True):
        # Placed at a whole millisecond (rounded to the sample) so the word times stay exact.
        at = round(start_ms * rate / 1000)
        clean[at : at + len(speech.samples)] = speech.samples.astype(np.float32) / 32768.0
    loud = clean[np.abs(clean) > 1e-4]
    signal_rms = float(np.sqrt(np.mean(loud**2))) if loud.size else 0.1
    if breath_db is not None and words:
        level = signal_rms * 10 ** (breath_db / 20)
        first_ms, last_ms = words[0].t_ms, words[-1].end_ms
        inhale_ms = int(rng.integers(350, 500))
        gap_ms = int(rng.integers(120, 250))  # breath ends, then the voice starts
        _add(clean, breath(inhale_ms, rate, rng) * level, (first_ms - gap_ms - inhale_ms) * rate // 1000)
        _add(clean, click(rate, rng) * level * 3, (first_ms - int(rng.integers(40, 90))) * rate // 1000)
        exhale_ms = int(rng.integers(300, 450))
        _add(clean, breath(exhale_ms, rate, rng) * level * 0.7, (last_ms + int(rng.integers(150, 400))) * rate // 1000)
    if reverb_s is not None:
        clean = room(clean, rate, reverb_s, rng)
    if snr_db is not None:
        noise_rms = signal_rms / 10 ** (snr_db / 20)
        clean = clean + rng.normal(0.0, noise_rms, size=clean.shape).astype(np.float32)
    samples = resample(clean, rate, sample_rate)
    return Recording(samples.astype(np.float32), sample_rate, " ".join(phrases), words)


def breath(duration_ms: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS breath noise: white noise shaped towards 300-2500 Hz, rising and falling smoothly."""
    n = duration_ms * rate // 1000
    spectrum = np.fft.rfft(rng.normal(0.0, 1.0, n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum *= np.exp(-0.5 * (np.log(np.maximum(freqs, 1.0) / 900.0) / 0.8) ** 2)  # a broad hump around 900 Hz
    noise = np.fft.irfft(spectrum, n)
    envelope = np.sin(np.pi * np.arange(n) / n) ** 2
    shaped = noise * envelope
    return (shaped / (np.sqrt(np.mean(shaped**2)) + 1e-12)).astype(np.float32)


def click(rate: int, rng: np.random.Generator) -> np.ndarray:
    """A lip click: a few milliseconds of decaying noise."""
    n = 6 * rate // 1000
    return (rng.normal(0.0, 1.0, n) * np.exp(-np.arange(n) / (n / 4))).astype(np.float32)


def room(dry: np.ndarray, rate: int, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """``dry`` in a room: convolved with the direct sound plus a noise tail decaying 60 dB in ``rt60_s``."""
    n = int(rt60_s * rate)
    t = np.arange(n) / rate
    tail = rng.normal(0.0, 1.0, n) * 10 ** (-3 * t / rt60_s)
    tail[: rate // 200] = 0.0  # the first reflections arrive after about 5 ms
    impulse = np.concatenate([[1.0], np.zeros(rate // 200 - 1)])
    ir = np.zeros(n)
    ir[: len(impulse)] += impulse
    ir += 0.25 * tail / np.sqrt(np.sum(tail**2))  # direct to reverberant energy about 12 dB
    size = len(dry) + n - 1
    wet = np.fft.irfft(np.fft.rfft(dry, size) * np.fft.rfft(ir, size), size)[: len(dry)]
    return (wet * np.max(np.abs(dry)) / (np.max(np.abs(wet)) + 1e-12)).astype(np.float32)


def _add(signal: np.ndarray, sound: np.ndarray, at: int) -> None:
    at = max(at, 0)
    stop = min(len(signal), at + len(sound))
    signal[at:stop] += sound[: stop - at]


def edge_errors_ms(found: list[tuple[int, int, str]], truth: list[Word]) -> tuple[int | None, int | None]:
    """Signed error of the first word's start and the last word's end (found - true), ``None`` if not placed."""
    if not found:
        return None, None
    first = found[0][0] - truth[0].t_ms if found[0][2] == truth[0].text else None
    last = found[-1][1] - truth[-1].end_ms if found[-1][2] == truth[-1].text else None
    return first, last


def boundary_errors_ms(found: list[tuple[int, int, str]], truth: list[Word]) -> list[int]:
    """``|start - true start|`` and ``|end - true end|`` of every found word matched to its true word.

    Words are matched in order by text (the aligner may leave some out).
    """
    errors: list[int] = []
    k = 0
    for t_ms, end_ms, text in found:
        while k < len(truth) and truth[k].text != text:
            k += 1
        if k == len(truth):
            break
        errors += [abs(t_ms - truth[k].t_ms), abs(end_ms - truth[k].end_ms)]
        k += 1
    return errors
