"""Labelled recordings for the aligner's tests and benchmark: speech with known word times (no files kept).

A "recording" is spoken by espeak-ng with a different voice, rate and pitch than the
aligner's reference, in separate phrases joined by pauses of our choosing, then mixed with
noise and resampled. Its true word times come from the recording's own espeak events, offset
by where each phrase was placed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.speech.audio import to_wav_bytes
from streamer.speech.espeak import synthesize
from streamer.speech.model import Speech, Word
from streamer.speech.pcm import resample


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
) -> Recording:
    """Speak ``phrases`` one by one with ``voice`` and join them with ``pauses_ms`` of silence."""
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
    if snr_db is not None:
        loud = clean[np.abs(clean) > 1e-4]
        signal_rms = float(np.sqrt(np.mean(loud**2))) if loud.size else 0.1
        noise_rms = signal_rms / 10 ** (snr_db / 20)
        clean = clean + rng.normal(0.0, noise_rms, size=clean.shape).astype(np.float32)
    samples = resample(clean, rate, sample_rate)
    return Recording(samples.astype(np.float32), sample_rate, " ".join(phrases), words)


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
