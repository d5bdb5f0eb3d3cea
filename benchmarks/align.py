"""Offline aligner accuracy and speed on labelled recordings, and offline TTS speed.

``python -m benchmarks.align``: builds the labelled recordings of the test suite
(``tests/speech/align_fixtures.py``: espeak-ng voices other than the aligner's, at other rates
and pitches, phrases joined by pauses of random length, hiss at 15-30 dB SNR, resampled to
8-48 kHz, word times known from the recording's own synthesis), including a ~60 s one, and
aligns each with its transcript through the real path (WAV bytes decoded with PyAV, then
:func:`streamer.speech.alignment.recording.align_samples`: espeak-ng's reference, then the aligner).

- accuracy: |found - true| of every placed word's start and end (median, mean, p90), and how
  many words were left unplaced;
- edges: the first word's start and the last word's end (found - true) on the edge fixtures
  (``EDGE_FIXTURES``: breaths, lip clicks, rooms, long silences, other voices, an "s" and a "t"
  at the end);
- speed: decode + align time as a multiple of real time, on the ~60 s recording (best of 3)
  and on a 10 minute one, with the peak memory traced during the 10 minute alignment;
- TTS: espeak-ng synthesis of the 60 s script, as a multiple of real time.

Prints a table, then one JSON object of figures as the last line.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamer.speech.alignment.recording import align_samples  # noqa: E402
from streamer.speech.formats.pcm import load_pcm  # noqa: E402
from streamer.speech.model import Alignment  # noqa: E402
from streamer.speech.synthesis.espeak import synthesize  # noqa: E402
from tests.speech.align_fixtures import (  # noqa: E402
    EDGE_FIXTURES,
    PHRASES,
    Recording,
    boundary_errors_ms,
    edge_errors_ms,
    make_recording,
)

TARGET_MEDIAN_MS = 40.0
TARGET_REALTIME = 20.0
TARGET_EDGE_MS = 60.0

# (name, phrases, voice, rate_wpm, pitch, snr_db, sample_rate)
FIXTURES: list[tuple[str, list[str], str, int, int, float, int]] = [
    ("rp-woman-60s", PHRASES, "en-gb-x-rp+f4", 140, 70, 25.0, 44_100),
    ("us-man-fast", PHRASES[:6], "en-us+m3", 200, 30, 20.0, 22_050),
    ("caribbean-8k", PHRASES[3:9], "en-029+f4", 120, 50, 30.0, 8_000),
    ("scottish-noisy", PHRASES[6:12], "en-gb-scotland+m7", 175, 60, 15.0, 48_000),
    ("us-woman-high", PHRASES[9:15], "en-us+f1", 150, 80, 20.0, 44_100),
    ("klatt", PHRASES[10:16], "en-us+klatt2", 160, 40, 25.0, 16_000),
    ("rp-man-slow", PHRASES[:8], "en-gb-x-rp+m3", 130, 45, 20.0, 32_000),
]


def run_fixture(rec: Recording) -> tuple[list[int], Alignment, float]:
    """Boundary errors, the alignment and decode + align seconds for one recording."""
    data = rec.wav_bytes()
    gc.collect()
    started = time.perf_counter()
    alignment = align_samples(load_pcm(data), rec.transcript)
    elapsed = time.perf_counter() - started
    errors = boundary_errors_ms([(w.t_ms, w.end_ms, w.text) for w in alignment.words], rec.words)
    return errors, alignment, elapsed


def long_run(minutes: int) -> dict[str, float]:
    """Decode + align a ``minutes`` long recording: timed once, then once more under tracemalloc for the peak."""
    phrases = (PHRASES * 40)[: len(PHRASES) * minutes]
    rec = make_recording(phrases, voice="en-us+m3", rate_wpm=150, snr_db=25.0, sample_rate=16_000, seed=42)
    errors, alignment, elapsed = run_fixture(rec)
    data = rec.wav_bytes()
    tracemalloc.start()
    align_samples(load_pcm(data), rec.transcript)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "seconds": rec.duration_ms / 1000,
        "align_s": elapsed,
        "peak_mb": peak / 1e6,
        "median_error_ms": float(np.median(errors)),
        "placed": len(alignment.words) / len(rec.words),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long-minutes", type=int, default=10, help="length of the long run (default 10, 0 skips)")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}; fixtures: tests/speech/align_fixtures.py; reference voice en-us")

    rows: list[dict[str, Any]] = []
    all_errors: list[int] = []
    for k, (name, phrases, voice, rate_wpm, pitch, snr_db, sample_rate) in enumerate(FIXTURES):
        rec = make_recording(
            phrases, voice=voice, rate_wpm=rate_wpm, pitch=pitch, snr_db=snr_db, sample_rate=sample_rate, seed=k + 1
        )
        runs = [run_fixture(rec) for _ in range(3 if k == 0 else 1)]
        errors, alignment, _ = runs[0]
        elapsed = min(r[2] for r in runs)
        all_errors += errors
        rows.append(
            {
                "name": name,
                "voice": voice,
                "seconds": rec.duration_ms / 1000,
                "words": len(rec.words),
                "unplaced": len(alignment.unplaced),
                "median": float(np.median(errors)),
                "mean": float(np.mean(errors)),
                "p90": float(np.percentile(errors, 90)),
                "align_s": elapsed,
            }
        )

    header = f"{'fixture':16} {'voice':18} {'audio':>6} {'words':>5} {'unpl':>4}"
    header += f" {'median':>7} {'mean':>6} {'p90':>6} {'speed':>7}"
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['name']:16} {r['voice']:18} {r['seconds']:>5.1f}s {r['words']:>5} {r['unplaced']:>4}"
            f" {r['median']:>5.0f}ms {r['mean']:>4.0f}ms {r['p90']:>4.0f}ms {r['seconds'] / r['align_s']:>6.0f}x"
        )
    found = np.array(all_errors)
    sixty = rows[0]
    realtime = sixty["seconds"] / sixty["align_s"]
    print(
        f"\nall boundaries ({len(found)}): median {np.median(found):.0f} ms, mean {np.mean(found):.1f} ms,"
        f" p90 {np.percentile(found, 90):.0f} ms; within 41.7 ms (a frame at 24 fps): {np.mean(found <= 41.7):.0%}"
    )
    print(f"{sixty['seconds']:.0f} s recording: decode + align {sixty['align_s']:.2f} s = {realtime:.0f}x real time")

    edges: list[int] = []
    print(f"\n{'edge fixture':20} {'first word start':>17} {'last word end':>14}")
    for k, fixture in enumerate(EDGE_FIXTURES):
        rec = fixture.make(seed=100 + k)
        spans = [(w.t_ms, w.end_ms, w.text) for w in run_fixture(rec)[1].words]
        first, last = edge_errors_ms(spans, rec.words)
        shown = ["unplaced" if e is None else str(e) for e in (first, last)]
        print(f"{fixture.name:20} {shown[0]:>15} ms {shown[1]:>12} ms")
        edges += [abs(e) if e is not None else 10_000 for e in (first, last)]
    within = sum(e <= TARGET_EDGE_MS for e in edges)
    print(f"edges within {TARGET_EDGE_MS:.0f} ms: {within} of {len(edges)}, worst {max(edges)} ms")

    script = " ".join(PHRASES)
    started = time.perf_counter()
    speech = synthesize(script, voice="en-us", rate_wpm=165)
    tts_s = time.perf_counter() - started
    tts_realtime = speech.duration_ms / 1000 / tts_s
    print(
        f"offline TTS (espeak-ng): {speech.duration_ms / 1000:.1f} s of speech in {tts_s:.3f} s = {tts_realtime:.0f}x"
    )

    figures: dict[str, Any] = {
        "median_error_ms": round(float(np.median(found)), 1),
        "mean_error_ms": round(float(np.mean(found)), 1),
        "p90_error_ms": round(float(np.percentile(found, 90)), 1),
        "within_frame_24fps": round(float(np.mean(found <= 41.7)), 3),
        "boundaries": int(len(found)),
        "unplaced_words": int(sum(r["unplaced"] for r in rows)),
        "words": int(sum(r["words"] for r in rows)),
        "realtime_factor": round(realtime, 1),
        "seconds_60s_fixture": round(sixty["seconds"], 1),
        "tts_realtime_factor": round(tts_realtime, 1),
        "edge_worst_ms": max(edges),
        "edges_within_60ms": f"{sum(e <= TARGET_EDGE_MS for e in edges)}/{len(edges)}",
    }
    if args.long_minutes > 0:
        long = long_run(args.long_minutes)
        print(
            f"{long['seconds'] / 60:.1f} min recording: decode + align {long['align_s']:.2f} s"
            f" = {long['seconds'] / long['align_s']:.0f}x real time, traced peak {long['peak_mb']:.0f} MB,"
            f" median error {long['median_error_ms']:.0f} ms, {long['placed']:.0%} placed"
        )
        figures["realtime_factor_long"] = round(long["seconds"] / long["align_s"], 1)
        figures["long_minutes"] = round(long["seconds"] / 60, 1)
        figures["peak_mb_long"] = round(long["peak_mb"], 1)
    figures["target_met"] = figures["median_error_ms"] < TARGET_MEDIAN_MS and realtime >= TARGET_REALTIME
    verdict = "ok" if figures["target_met"] else "OVER TARGET"
    print(f"targets: median < {TARGET_MEDIAN_MS:.0f} ms, >= {TARGET_REALTIME:.0f}x real time: {verdict}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
