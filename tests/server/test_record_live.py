"""Recording what a channel aired: a play, speech, a reaction and an interrupt become a timeline
with its audio, and its export shows exactly the frames a viewer was sent."""

from __future__ import annotations

import asyncio
import bisect
import io
import math
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image
from websockets.asyncio.client import connect

from streamer.cli import main
from streamer.core.resolve import resolve
from streamer.core.timeline import parse_timeline
from tests.server.conftest import LiveServer, wav_bytes
from tests.server.test_live import FrameQueue, recv, server_now, ws_url
from tests.server.test_say_live import create

FPS = 12


async def post(server: LiveServer, path: str, body: dict[str, Any] | None = None) -> Any:
    """A REST call off the event loop, so the viewer keeps reading (and answering pings) meanwhile."""

    def run() -> Any:
        with server.client() as c:
            return c.post(path, json=body if body is not None else {})

    return await asyncio.to_thread(run)


def store_talk(server: LiveServer) -> None:
    """A 2.5 s timeline ``talk`` with a 2 s tone as its audio."""
    with server.client() as c:
        audio = c.post("/audio", content=wav_bytes(2000), headers={"Content-Type": "audio/wav"})
        doc = {
            "version": 1,
            "audio": {"id": audio.json()["id"], "offset_ms": 0},
            "tracks": {"emotion": [{"t_ms": 0, "expr": "happy_soft", "transition_ms": 300}]},
            "duration_ms": 2500,
        }
        assert c.put("/timelines/talk", json=doc).status_code in (200, 201)


async def until(server: LiveServer, t_ms: int) -> None:
    while server_now(server) < t_ms:
        await asyncio.sleep(0.02)


def aired(frames: list[tuple[int, str]], start: int, end: int) -> list[list[Any]]:
    """The viewer's frames over ``[start, end)`` as keys from ``start``: the frame on screen at
    ``start``, then every change (consecutive repeats merged, as a schedule has them)."""
    times = [t for t, _ in frames]
    on_screen = frames[bisect.bisect_right(times, start) - 1][1]
    out: list[list[Any]] = [[0, on_screen]]
    for t, url in frames:
        if start < t < end and url != out[-1][1]:
            out.append([t - start, url])
    return [[t, url.removeprefix("/frames/")] for t, url in out]


def decoded_frames(data: bytes, count: int) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        decoded = [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    times = [t for t, _ in decoded]
    return [decoded[bisect.bisect_right(times, (i + 0.5) / FPS) - 1][1] for i in range(count)]


def reference(rig_dir: Path, key: str, size: tuple[int, int]) -> np.ndarray:
    with Image.open(rig_dir / key) as im:
        rgba = np.asarray(im.convert("RGBA").resize(size, Image.Resampling.LANCZOS)).astype(np.float64)
    alpha = rgba[..., 3:4] / 255
    return rgba[..., :3] * alpha + 255 * (1 - alpha)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


async def test_a_recorded_stretch_exports_to_the_frames_a_viewer_was_sent(server: LiveServer, rig_dir: Path) -> None:
    store_talk(server)
    create(server, "rec")
    async with connect(ws_url(server, "rec")) as viewer:
        q = FrameQueue(server)
        q.apply(await recv(viewer, "frames"))
        following = asyncio.create_task(q.follow(viewer, 60))
        started = await post(server, "/channels/rec/record", {"action": "start"})
        assert started.status_code == 200, started.text
        start = started.json()["start_ms"]
        again = await post(server, "/channels/rec/record", {"action": "start"})
        assert again.status_code == 409 and "already recording" in again.json()["error"]
        assert (await post(server, "/channels/rec/play", {"timeline_id": "talk"})).status_code == 200
        await until(server, start + 1500)
        said = await post(server, "/channels/rec/say", {"text": "Hello there, this is recorded live. And more."})
        assert said.status_code == 200, said.text
        while not [m for m in q.messages if m["type"] == "audio" and "segment" in m]:
            await asyncio.sleep(0.02)
        segment = next(m for m in q.messages if m["type"] == "audio" and "segment" in m)
        await until(server, segment["start_ms"] + 300)
        reacted = await post(server, "/channels/rec/react", {"reaction": "nod"})
        assert reacted.status_code == 200, reacted.text
        await until(server, reacted.json()["end_ms"] + 200)
        interrupted = await post(server, "/channels/rec/interrupt")
        assert interrupted.json()["interrupted"] is not None
        await until(server, server_now(server) + 700)
        stopped = await post(server, "/channels/rec/record", {"action": "stop", "timeline_id": "rec-1"})
        assert stopped.status_code == 200, stopped.text
        await asyncio.sleep(0.3)  # the viewer has everything up to the stop long before (lookahead)
        following.cancel()
    result = stopped.json()
    assert result["timeline_id"] == "rec-1" and result["start_ms"] == start and result["audio_id"]
    end = result["end_ms"]
    sent = aired(q.frames, start, end)
    assert any("nod_" in key for _, key in sent) and any("happy_soft" in key for _, key in sent)

    with server.client() as c:
        doc = c.get("/timelines/rec-1").json()
        # The stored timeline is the viewer's frames, exactly, shifted to the recording's start.
        assert [[f["t_ms"], f["key"]] for f in doc["tracks"]["frames"]] == sent
        assert doc["duration_ms"] == end - start and doc["audio"] == {"id": result["audio_id"], "offset_ms": 0}
        assert [e["type"] for e in doc["meta"]["events"]][:1] == ["play"]
        assert {"say", "segment", "react", "interrupt"} <= {e["type"] for e in doc["meta"]["events"]}
        schedule = resolve(parse_timeline(doc), server.app.state.server.rigs["default"].rig)
        assert [list(c) for c in schedule.changes] == sent

        job = c.post(
            "/exports",
            json={"timeline_id": "rec-1", "options": {"fps": FPS, "scale": 0.25, "quality": "standard"}},
        ).json()
        for _ in range(600):
            job = c.get(f"/exports/{job['id']}").json()
            if job["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "done", job
        video = c.get(f"/exports/{job['id']}/file").content
        audio = c.get(f"/audio/{result['audio_id']}").content

    keys = schedule.sample(FPS)
    frames = decoded_frames(video, len(keys))
    size = (frames[0].shape[1], frames[0].shape[0])
    refs = {k: reference(rig_dir, k, size) for k in set(keys)}
    for i in range(0, len(keys), 2):  # each frame is its scheduled PNG (or one that looks the same)
        scores = {k: psnr(frames[i], ref) for k, ref in refs.items()}
        assert scores[keys[i]] >= 30 and scores[keys[i]] >= max(scores.values()) - 1.5, (i, keys[i], scores)

    # The audio: one track as long as the recording, the voice heard until the interrupt cut it.
    with av.open(io.BytesIO(audio)) as container:
        rate = container.streams.audio[0].codec_context.sample_rate
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert abs(len(pcm) / rate * 1000 - (end - start)) < 60
    cut = next(m for m in q.messages if m["type"] == "program_end" and m["reason"] == "interrupted")["t_ms"]
    voice = pcm[(segment["start_ms"] - start) * rate // 1000 : (cut - start) * rate // 1000]
    after = pcm[(cut - start + 40) * rate // 1000 :]
    assert np.sqrt(np.mean(voice**2)) > 0.01 and np.sqrt(np.mean(after**2)) < 0.002


async def test_record_bad_input_is_a_clear_error(server: LiveServer) -> None:
    create(server, "rec-bad")
    stop = await post(server, "/channels/rec-bad/record", {"action": "stop"})
    assert stop.status_code == 409 and "not recording: start a recording first" in stop.json()["error"]
    for body, message in [
        ({}, "action: must be 'start' or 'stop'"),
        ({"action": "pause"}, "action: must be 'start' or 'stop'"),
        ({"action": "start", "timeline_id": "x"}, "are given when the recording stops"),
        ({"action": "stop", "timeline_id": "Bad Id"}, "timeline_id: must match"),
    ]:
        bad = await post(server, "/channels/rec-bad/record", body)
        assert bad.status_code == 400 and message in bad.json()["error"], (body, bad.text)
    assert (await post(server, "/channels/rec-bad/record", {"action": "start"})).status_code == 200
    taken = await post(server, "/channels/rec-bad/record", {"action": "stop", "timeline_id": "hello"})
    assert taken.status_code == 409 and "the recording goes on" in taken.json()["error"]
    with server.client() as c:
        assert c.get("/channels/rec-bad").json()["recording"] is not None
    done = await post(server, "/channels/rec-bad/record", {"action": "stop"})
    assert done.status_code == 200 and done.json()["audio_id"] is None and done.json()["frames"] >= 1


def test_streamer_record_stores_what_aired_for_some_seconds(
    server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    create(server, "rec-cli")
    url = f"http://127.0.0.1:{server.port}"
    assert main(["record", "--channel", "rec-cli", "--seconds", "0.5", "--id", "cli-take", "--server", url]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "cli-take" and "recorded 0.5 s" in err and "no audio aired" in err
    with server.client() as c:
        doc = c.get("/timelines/cli-take").json()
    assert 450 <= doc["duration_ms"] <= 1500 and doc["tracks"]["frames"][0]["t_ms"] == 0
    # An id that is taken is refused before recording, in one line, with exit code 2.
    assert main(["record", "--channel", "rec-cli", "--seconds", "0.1", "--id", "cli-take", "--server", url]) == 2
    assert "error: record: timeline 'cli-take' already exists" in capsys.readouterr().err
    with server.client() as c:
        assert c.get("/channels/rec-cli").json()["recording"] is None
    assert main(["record", "--seconds", "0", "--server", url]) == 2
    assert "error: record: --seconds must be in (0, 3600]" in capsys.readouterr().err
