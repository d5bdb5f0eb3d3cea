"""The stores on their own: audio formats accepted or refused, ids, timeline files (no server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import av
import numpy as np
import pytest

from streamer.core.errors import InvalidKey, NotFound, TimelineError
from streamer.storage import (
    AudioError,
    AudioInfo,
    AudioStore,
    PayloadTooLarge,
    TimelineStore,
    seed_examples,
    validate_audio_id,
    write_atomic,
)
from tests.server.conftest import wav_bytes

RATE = 48000
T = TypeVar("T")


def encode_audio(path: Path, fmt: str, codec: str, ms: int = 500, video: bool = False) -> Path:
    """A sine tone encoded with PyAV (and a few black video frames when ``video``)."""
    with av.open(str(path), "w", format=fmt) as container:
        vstream: av.VideoStream | None = None
        if video:
            vstream = container.add_stream("libx264", rate=10)
            assert isinstance(vstream, av.VideoStream)
            vstream.width, vstream.height, vstream.pix_fmt = 32, 32, "yuv420p"
        stream = container.add_stream(codec, rate=RATE)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "mono"
        t = np.arange(RATE * ms // 1000) / RATE
        frame = av.AudioFrame.from_ndarray(
            (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts, frame.time_base = RATE, 0, Fraction(1, RATE)
        if vstream is not None:
            for i in range(3):
                image = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
                image.pts = i
                container.mux(vstream.encode(image))
            container.mux(vstream.encode(None))
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


async def chunks_of(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh loop in its own thread (other suites may leave a loop running here)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def save(store: AudioStore, data: bytes, max_bytes: int = 10_000_000) -> AudioInfo:
    return run(store.save_stream(chunks_of(data), "upload", max_bytes))


@pytest.mark.parametrize(
    ("fmt", "codec", "ext", "content_type"),
    [
        ("mp3", "libmp3lame", "mp3", "audio/mpeg"),
        ("ogg", "libopus", "opus", "audio/ogg"),
        ("flac", "flac", "flac", "audio/flac"),
        ("ipod", "aac", "m4a", "audio/mp4"),
        ("wav", "pcm_s16le", "wav", "audio/wav"),
    ],
)
def test_accepted_formats(tmp_path: Path, fmt: str, codec: str, ext: str, content_type: str) -> None:
    data = encode_audio(tmp_path / f"in.{ext}", fmt, codec).read_bytes()
    store = AudioStore(tmp_path / "audio")
    info = save(store, data)
    assert info.id.endswith(f".{ext}")
    assert info.content_type == content_type
    assert abs(info.duration_ms - 500) <= 30
    assert store.info(info.id) == info


def test_a_video_file_is_refused(tmp_path: Path) -> None:
    data = encode_audio(tmp_path / "clip.mp4", "mp4", "aac", video=True).read_bytes()
    store = AudioStore(tmp_path / "audio")
    with pytest.raises(AudioError, match="video stream"):
        save(store, data)
    assert list(store.root.iterdir()) == []


def test_the_size_cap_stops_reading(tmp_path: Path) -> None:
    store = AudioStore(tmp_path / "audio")
    read = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal read
        while True:
            read += 1000
            yield b"\0" * 1000

    with pytest.raises(PayloadTooLarge):
        run(store.save_stream(endless(), None, max_bytes=10_000))
    assert read == 11_000
    assert list(store.root.iterdir()) == []


def test_audio_ids_are_validated(tmp_path: Path) -> None:
    store = AudioStore(tmp_path / "audio")
    for bad in ("../x.wav", "x.txt", ".wav", "a/b.wav", "x.wav\0", "x" * 65 + ".wav"):
        with pytest.raises(InvalidKey):
            store.path(bad)
        assert not store.exists(bad)
    assert validate_audio_id("hello.ogg") == "hello.ogg"
    with pytest.raises(NotFound, match="nope.wav"):
        store.info("nope.wav")


def test_timeline_store_round_trip_and_listing_ignores_temp_files(tmp_path: Path) -> None:
    store = TimelineStore(tmp_path / "timelines")
    store.put("one", {"version": 1, "duration_ms": 700})
    (store.root / ".tmp-abc.json").write_text("{partial")
    (store.root / "Not-An-Id.json").write_text("{}")
    assert [t["id"] for t in store.list()] == ["one"]
    assert store.list()[0]["duration_ms"] == 700
    assert store.load("one").duration_ms == 700
    created = store.create({"version": 1})
    assert store.exists(created)
    with pytest.raises(TimelineError, match="version"):
        store.put("one", {"version": 3})
    assert store.get_document("one") == {"version": 1, "duration_ms": 700}


def test_write_atomic_cleans_up_after_a_failure(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]


def test_seeding_without_an_examples_folder_is_a_no_op(tmp_path: Path) -> None:
    audio = AudioStore(tmp_path / "audio")
    timelines = TimelineStore(tmp_path / "timelines", audio=audio)
    assert seed_examples(tmp_path / "missing", timelines, audio) == []


def test_seeding_registers_audio_under_its_file_name(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "hi.wav").write_bytes(wav_bytes(400))
    (examples / "junk.mp3").write_bytes(b"nope")
    (examples / "hi.json").write_text(json.dumps({"version": 1, "audio": {"id": "hi.wav"}}))
    (examples / "needs-junk.json").write_text(json.dumps({"version": 1, "audio": {"id": "junk.mp3"}}))
    audio = AudioStore(tmp_path / "audio")
    timelines = TimelineStore(tmp_path / "timelines", audio=audio)
    assert seed_examples(examples, timelines, audio) == ["audio/hi.wav", "timelines/hi"]
    assert audio.info("hi.wav").duration_ms == 400
    assert seed_examples(examples, timelines, audio) == []
