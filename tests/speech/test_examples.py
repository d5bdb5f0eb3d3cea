"""The example files in ``examples/``: they load, match each other, and are up to date."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from streamer.core.timeline import check_against_rig, loads, parse_timeline
from tests.rigs import make_rig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _make_hello() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_hello", EXAMPLES / "make_hello.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hello_timeline_loads_and_names_its_audio_file() -> None:
    timeline = parse_timeline(loads((EXAMPLES / "hello.json").read_text(encoding="utf-8")))
    check_against_rig(timeline, make_rig())
    assert timeline.audio is not None and (EXAMPLES / timeline.audio.id).is_file()
    assert timeline.speech and timeline.words and timeline.pose and timeline.emotion
    assert 3000 <= timeline.duration_ms <= 6000
    assert (EXAMPLES / timeline.audio.id).stat().st_size < 200_000


def test_hello_audio_lasts_as_long_as_the_timeline_says() -> None:
    av = pytest.importorskip("av")
    timeline = parse_timeline(loads((EXAMPLES / "hello.json").read_text(encoding="utf-8")))
    assert timeline.audio is not None
    with av.open(str(EXAMPLES / timeline.audio.id)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        audio_ms = samples * 1000 / stream.rate
    assert abs(audio_ms + 500 - timeline.duration_ms) < 5


def _decode(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float samples in [-1, 1] and the sample rate of an audio file's first stream."""
    av = pytest.importorskip("av")
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(stream)])
        return samples.astype(np.float64), stream.rate


def _envelope(samples: np.ndarray, rate: int, window_ms: int = 20) -> np.ndarray:
    """RMS loudness per ``window_ms`` window (the last partial window dropped)."""
    n = rate * window_ms // 1000
    frames = samples[: len(samples) // n * n].reshape(-1, n)
    return np.sqrt(np.mean(frames**2, axis=1))


def test_make_hello_reproduces_the_committed_files() -> None:
    # The timeline is exact. The audio is compared decoded: Opus encoders make different bytes
    # (and slightly different samples) on different CPUs, so bytes are never compared.
    pytest.importorskip("av")
    audio, text = _make_hello().build()
    assert text == (EXAMPLES / "hello.json").read_text(encoding="utf-8")
    made, made_rate = _decode(audio)
    committed, rate = _decode((EXAMPLES / "hello.ogg").read_bytes())
    assert made_rate == rate
    assert abs(len(made) - len(committed)) * 1000 / rate <= 20  # one Opus frame at most
    n = min(len(made), len(committed))
    made, committed = made[:n], committed[:n]
    signal = float(np.sqrt(np.mean(committed**2)))
    assert signal > 0.01, "the committed example is silent"
    noise = float(np.sqrt(np.mean((made - committed) ** 2)))
    assert noise < 0.3 * signal, f"decoded audio differs: noise {noise:.4f} vs signal {signal:.4f}"
    loud, loud_committed = _envelope(made, rate), _envelope(committed, rate)
    assert np.abs(loud - loud_committed).max() < 0.1 * loud_committed.max()


def test_face_rig_keyframes_load_and_use_the_face_rig_names() -> None:
    timeline = parse_timeline(loads((EXAMPLES / "face_rig_keyframes.json").read_text(encoding="utf-8")))
    assert timeline.source == "face_rig"
    check_against_rig(timeline, make_rig())
    assert {k.expr for k in timeline.emotion} == {
        "neutral",
        "happy_soft",
        "happy_big",
        "concerned",
        "surprised_ah",
        "blink_closed",
    }
    assert {k.pose for k in timeline.pose} == {"center", "tilt_left_small", "nod_down_small"}
    assert 5500 <= timeline.emotion[-1].t_ms + timeline.emotion[-1].transition_ms <= 6500


def test_hello_audio_is_an_ogg_file() -> None:
    assert (EXAMPLES / "hello.ogg").read_bytes()[:4] == b"OggS"
