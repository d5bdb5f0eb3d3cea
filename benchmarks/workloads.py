"""Synthetic timelines for benchmarks: dense lip-sync, emotions, head moves and blinks."""

from __future__ import annotations

import random
from typing import Any

VISEMES = ["speaking_ah", "speaking_ee", "speaking_uw", "oh_round", "neutral"]
EMOTIONS = ["neutral", "happy_soft", "happy_big", "concerned", "surprised_ah", "neutral"]
POSES = ["center", "tilt_left_small", "tilt_right_small", "nod_down_small", "nod_up_small"]


def lipsync_timeline(duration_ms: int, seed: int = 1) -> dict[str, Any]:
    """About 3 words a second, 2-4 visemes a word, an emotion every ~4 s, a head move every ~7 s."""
    rng = random.Random(seed)
    speech: list[dict[str, Any]] = []
    words: list[dict[str, Any]] = []
    t = 300
    while t < duration_ms - 1500:
        n = rng.randint(2, 4)
        start = t
        for _ in range(n):
            length = rng.randint(70, 120)
            speech.append({"t_ms": t, "end_ms": t + length, "viseme": rng.choice(VISEMES)})
            t += length
        words.append({"t_ms": start, "end_ms": t, "text": "word"})
        t += rng.choice([10, 20, 40, 60, 250])
    emotion = []
    t = 0
    while t < duration_ms:
        emotion.append({"t_ms": t, "expr": rng.choice(EMOTIONS), "transition_ms": rng.choice([250, 400, 600])})
        t += rng.randint(3000, 5000)
    pose = []
    t = 2000
    while t < duration_ms:
        pose.append({"t_ms": t, "pose": rng.choice(POSES), "transition_ms": 500})
        t += rng.randint(5000, 9000)
    return {
        "version": 1,
        "start": {"expr": "neutral", "pose": "center"},
        "tracks": {"emotion": emotion, "speech": speech, "pose": pose, "words": words},
        "idle": {"blink": True, "seed": seed},
        "duration_ms": duration_ms,
    }
