"""Round trips: what the renderer writes, checked by ffprobe and by decoding it again with PyAV."""

from __future__ import annotations

import bisect
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from streamer.core.errors import NotFound
from streamer.core.schedule import Schedule
from streamer.core.timeline import Timeline
from streamer.export import Cancelled, ExportError, ExportOptions, ExportTooLong, h264
from streamer.export.render import TEMP_SUFFIX, AudioSource, FrameStore, plan_keys, render
from streamer.frames import FrameData, LocalFrameStore
from tests.export.conftest import HELLO, HELLO_AUDIO, RIG_DIR, ffprobe

SCALE = 0.25  # 128x192: small and quick, still every codec path


def _render(tmp_path: Path, hello: tuple[Timeline, Schedule], fmt: str, **options: object) -> Path:
    timeline, schedule = hello
    out = tmp_path / f"out.{fmt}"
    assert timeline.audio is not None
    audio = AudioSource(HELLO_AUDIO, timeline.audio.offset_ms)
    opts = ExportOptions(format=fmt, **({"scale": SCALE} | options))  # type: ignore[arg-type]
    render(schedule, LocalFrameStore(RIG_DIR), audio, opts, output=out)
    return out


def _streams(info: dict, kind: str) -> list[dict]:
    return [s for s in info["streams"] if s["codec_type"] == kind]


def _audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


def _no_temp(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX)] == []


def _sent(keys: list[str]) -> list[int]:
    """The frame indices a variable-rate file holds: each change, and the last frame (it ends the file)."""
    return [i for i, key in enumerate(keys) if i in (0, len(keys) - 1) or key != keys[i - 1]]


def _on_screen(path: Path, count: int, fps: int = 24) -> list[np.ndarray]:
    """What a player shows at each frame time ``i / fps``: the decoded frame with the latest timestamp
    at or before it (half a frame of slack: WebM rounds timestamps to milliseconds)."""
    with av.open(str(path)) as container:
        decoded = [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    times = [t for t, _ in decoded]
    assert times == sorted(times) and times[0] == 0
    return [decoded[bisect.bisect_right(times, (i + 0.5) / fps) - 1][1] for i in range(count)]


@pytest.mark.parametrize(
    ("fmt", "vcodec", "acodec", "constant_rate"),
    [
        ("mp4", "h264", "aac", False),
        ("mp4", "h264", "aac", True),
        ("webm", "vp9", "opus", False),
        ("mov", "prores", "pcm_s16le", False),
    ],
)
def test_round_trip_has_the_right_streams_length_and_frame_times(tmp_path, hello, fmt, vcodec, acodec, constant_rate):
    _, schedule = hello
    out = _render(tmp_path, hello, fmt, constant_rate=constant_rate)
    keys = schedule.sample(24)
    frames = len(keys)
    # MP4 and WebM leave held frames out unless asked for a constant rate; MOV (for editors) never does.
    variable = fmt != "mov" and not constant_rate
    sent = _sent(keys) if variable else list(range(frames))
    if variable:
        assert len(sent) < frames * 0.8  # the example holds frames, so leaving them out shows
    info = ffprobe(out, "-count_frames")
    (video,) = _streams(info, "video")
    (audio,) = _streams(info, "audio")
    assert video["codec_name"] == vcodec
    assert audio["codec_name"] == acodec
    assert (video["width"], video["height"]) == (128, 192)
    assert video["r_frame_rate"] == "24/1"
    assert int(video["nb_read_frames"]) == len(sent)
    assert abs(float(info["format"]["duration"]) - frames / 24) < 0.05
    assert abs(_audio_seconds(out) - frames / 24) < 0.05
    assert audio["channels"] == 1  # the example's speech is mono, and stays so
    if fmt == "mp4":
        assert video["pix_fmt"] == "yuv420p"
    if fmt == "mov":
        assert video["pix_fmt"].startswith("yuva444p")
        assert video["profile"] == "4444"
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        # Every frame is at the frame time of the frame index it shows.
        assert [round(float(f.time) * 24) for f in container.decode(stream)] == sent
        if not variable:
            assert stream.average_rate == Fraction(24)
    _no_temp(tmp_path)


def test_webm_keeps_alpha_for_the_libvpx_decoder_and_tags_it(tmp_path, hello):
    out = _render(tmp_path, hello, "webm")
    (video,) = _streams(ffprobe(out), "video")
    assert video["tags"].get("alpha_mode", video["tags"].get("ALPHA_MODE")) == "1"
    # ffmpeg's native VP9 decoder drops alpha: decode with libvpx, as browsers do.
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-c:v",
            "libvpx-vp9",
            "-i",
            str(out),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgba",
            "-",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    alpha = np.frombuffer(raw, np.uint8).reshape(192, 128, 4)[..., 3]
    assert alpha.min() < 10 and alpha.max() > 245
    assert 0.1 < (alpha < 10).mean() < 0.9
    with av.open(str(out)) as container:
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        frames = [f for p in container.demux(container.streams.video[0]) for f in decoder.decode(p)]
    assert frames[0].format.name == "yuva420p"


def test_mov_keeps_alpha(tmp_path, hello):
    out = _render(tmp_path, hello, "mov")
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
    assert frame.format.name.startswith("yuva444p")
    alpha = frame.to_ndarray(format="rgba")[..., 3]
    assert alpha.min() < 10 and alpha.max() > 245


def _reference(key: str, size: tuple[int, int], flatten: bool = True) -> np.ndarray:
    """The source frame composited over white (``flatten``; else its colour planes, alpha dropped),
    computed here independently of the renderer."""
    with Image.open(RIG_DIR / key) as im:
        rgba = im.convert("RGBA").resize(size, Image.Resampling.LANCZOS)
    arr = np.asarray(rgba).astype(np.float64)
    if not flatten:
        return arr[..., :3]
    a = arr[..., 3:4] / 255
    return arr[..., :3] * a + 255 * (1 - a)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def test_decoded_frames_are_the_schedules_frames_not_their_neighbours(tmp_path, hello):
    _, schedule = hello
    out = _render(tmp_path, hello, "mp4", scale=0.5)
    keys = schedule.sample(24)
    decoded = _on_screen(out, len(keys))
    changes = [i for i in range(1, len(keys) - 1) if keys[i] != keys[i - 1] and keys[i] != keys[i + 1]]
    assert len(changes) >= 4
    picks = changes[:: max(1, len(changes) // 6)][:6]
    refs: dict[str, np.ndarray] = {}
    for i in picks:
        for k in {keys[i - 1], keys[i], keys[i + 1]}:
            refs.setdefault(k, _reference(k, (256, 384)))
        own = _psnr(decoded[i], refs[keys[i]])
        assert own >= 35, f"frame {i} ({keys[i]}): {own:.1f} dB"
        assert own > _psnr(decoded[i], refs[keys[i - 1]]), f"frame {i} looks like its predecessor"
        assert own > _psnr(decoded[i], refs[keys[i + 1]]), f"frame {i} looks like its successor"


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_a_held_frame_stays_on_screen_for_its_whole_hold_and_the_next_one_comes_on_time(tmp_path, hello, fmt):
    _, schedule = hello
    keys = schedule.sample(24)
    # The longest hold inside the timeline (between two changes): sent once, shown for all of it.
    changes = [i for i in range(1, len(keys)) if keys[i] != keys[i - 1]]
    first, end = max(zip(changes, changes[1:], strict=False), key=lambda run: run[1] - run[0])
    assert end - first >= 4
    out = _render(tmp_path, hello, fmt, scale=None)  # the rig's size: no resampling, so WebM's colour is the PNG's
    assert int(_streams(ffprobe(out, "-count_frames"), "video")[0]["nb_read_frames"]) < len(keys)
    shown = _on_screen(out, len(keys))
    size = (shown[0].shape[1], shown[0].shape[0])
    refs = {k: _reference(k, size, flatten=fmt == "mp4") for k in (keys[first - 1], keys[first], keys[end])}
    for i in range(first, end):
        own = _psnr(shown[i], refs[keys[first]])
        assert own >= 35, f"frame {i} of the hold {first}-{end - 1}: {own:.1f} dB"
        assert own > _psnr(shown[i], refs[keys[first - 1]]), f"frame {i} still shows the frame before the hold"
        assert own > _psnr(shown[i], refs[keys[end]]), f"frame {i} already shows the frame after the hold"
    after = _psnr(shown[end], refs[keys[end]])
    assert after >= 35 and after > _psnr(shown[end], refs[keys[first]]), "the frame after the hold is late"


def test_the_last_frame_is_the_timelines_final_state_even_when_duration_ms_cuts_its_last_transition(tmp_path, hello):
    timeline, schedule = hello
    assert timeline.emotion[-1].t_ms + timeline.emotion[-1].transition_ms > timeline.duration_ms  # cut before
    out = _render(tmp_path, hello, "mp4", fps=12, scale=0.5)
    with av.open(str(out)) as container:
        *_, last = container.decode(video=0)
    size = (last.width, last.height)
    shown = last.to_ndarray(format="rgb24")
    final = _psnr(shown, _reference("endpoints/neutral__center.png", size))
    assert final >= 35
    for key in ("sequences/neutral_to_happy_soft__center/025.png", "endpoints/happy_soft__center.png"):
        assert final > _psnr(shown, _reference(key, size)) + 1, key


def test_trim_starts_at_the_schedules_frame_and_has_the_right_length(tmp_path, hello):
    _, schedule = hello
    options = ExportOptions(start_ms=1000, end_ms=2500)
    keys = plan_keys(schedule, options)
    assert len(keys) == 36
    assert keys[0] == schedule.key_at(1000)
    assert keys[-1] == schedule.key_at(1000 + 35 * 1000 // 24)
    out = _render(tmp_path, hello, "mp4", start_ms=1000, end_ms=2500)
    info = ffprobe(out, "-count_frames")
    assert int(_streams(info, "video")[0]["nb_read_frames"]) == len(_sent(keys))
    assert abs(float(info["format"]["duration"]) - 1.5) < 0.05
    with av.open(str(out)) as container:
        assert [round(float(f.time) * 24) for f in container.decode(video=0)] == _sent(keys)
    assert abs(_audio_seconds(out) - 1.5) < 0.05


def test_size_box_keeps_the_aspect_and_pads(tmp_path, hello):
    out = _render(tmp_path, hello, "mp4", scale=None, size=(200, 200), audio=False)
    info = ffprobe(out)
    (video,) = _streams(info, "video")
    assert (video["width"], video["height"]) == (200, 200)
    assert _streams(info, "audio") == []
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert frame[:, :20].mean() > 250  # the padding is the white background


def test_each_distinct_frame_is_fetched_once(tmp_path, hello):
    _, schedule = hello
    calls: list[str] = []

    class Counting:
        inner = LocalFrameStore(RIG_DIR)

        async def get(self, key: str) -> FrameData:
            calls.append(key)
            return await self.inner.get(key)

    store: FrameStore = Counting()
    render(schedule, store, None, ExportOptions(scale=SCALE), output=tmp_path / "x.mp4")
    assert len(calls) == len(set(calls)) == len(set(schedule.sample(24)))


def test_missing_frame_fails_and_leaves_nothing(tmp_path, hello):
    _, schedule = hello
    missing = schedule.sample(24)[30]

    class Holey:
        inner = LocalFrameStore(RIG_DIR)

        async def get(self, key: str) -> FrameData:
            if key == missing:
                raise NotFound(f"no frame {key!r}")
            return await self.inner.get(key)

    with pytest.raises(ExportError, match="missing"):
        render(schedule, Holey(), None, ExportOptions(scale=SCALE), output=tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []


def test_undecodable_audio_fails_and_leaves_nothing(tmp_path, hello):
    _, schedule = hello
    junk = tmp_path / "junk.ogg"
    junk.write_bytes(b"OggS" + b"\x00" * 200)
    with pytest.raises(ExportError, match="audio"):
        render(
            schedule, LocalFrameStore(RIG_DIR), AudioSource(junk), ExportOptions(scale=SCALE), output=tmp_path / "x.mp4"
        )
    assert [p.name for p in tmp_path.iterdir()] == ["junk.ogg"]


def test_cancel_stops_and_leaves_nothing(tmp_path, hello):
    _, schedule = hello
    seen: list[int] = []

    def progress(done: int, total: int, stage: str) -> None:
        seen.append(done)

    with pytest.raises(Cancelled):
        render(
            schedule,
            LocalFrameStore(RIG_DIR),
            None,
            ExportOptions(scale=SCALE),
            progress,
            lambda: len(seen) > 10,
            output=tmp_path / "x.mp4",
        )
    assert list(tmp_path.iterdir()) == []


def test_over_the_length_cap_is_refused_before_encoding(tmp_path, hello):
    _, schedule = hello
    with pytest.raises(ExportTooLong, match="limit"):
        render(
            schedule, LocalFrameStore(RIG_DIR), None, ExportOptions(), output=tmp_path / "x.mp4", max_duration_ms=1000
        )
    assert list(tmp_path.iterdir()) == []


def test_file_size_limit_is_a_clear_error_and_leaves_nothing(tmp_path):
    """A full disk, simulated with RLIMIT_FSIZE in a child process (writes then fail with EFBIG)."""
    script = f"""
import resource, signal, json, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
from streamer.core.resolve import resolve
from streamer.core.timeline import parse_timeline
from streamer.export import ExportOptions, DiskFull
from streamer.export.render import render
from streamer.frames import LocalFrameStore
from streamer.rigload import load_rig
rig_dir = Path({str(RIG_DIR)!r})
document = json.loads(Path({str(HELLO)!r}).read_text())
schedule = resolve(parse_timeline(document), load_rig(rig_dir))
try:
    render(schedule, LocalFrameStore(rig_dir), None, ExportOptions(format="mov"),
           output=Path({str(tmp_path / "x.mov")!r}))
except DiskFull as exc:
    print("diskfull:", exc)
"""
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=str(RIG_DIR.parent)
    )
    assert "diskfull:" in res.stdout, res.stdout + res.stderr
    assert list(tmp_path.iterdir()) == []


def test_kill_9_during_an_export_leaves_no_output_and_the_sweep_removes_the_temp(tmp_path):
    from streamer.export.render import sweep_temp

    script = f"""
import json, sys
from pathlib import Path
from streamer.core.resolve import resolve
from streamer.core.timeline import parse_timeline
from streamer.export import ExportOptions
from streamer.export.render import render
from streamer.frames import LocalFrameStore
from streamer.rigload import load_rig
from benchmarks.workloads import lipsync_timeline
rig_dir = Path({str(RIG_DIR)!r})
schedule = resolve(parse_timeline(lipsync_timeline(120000)), load_rig(rig_dir))
def progress(done, total, stage):
    if stage == "encoding" and done == 20:
        print("encoding", flush=True)
render(schedule, LocalFrameStore(rig_dir), None, ExportOptions(format="mov", quality="high"), progress,
       output=Path({str(tmp_path / "x.mov")!r}))
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=str(RIG_DIR.parent))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "encoding"
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (tmp_path / "x.mov").exists()
    temps = [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]
    assert len(temps) == 1 and temps[0].name.startswith(".x.mov.")
    assert sweep_temp(tmp_path) == 1
    assert list(tmp_path.iterdir()) == []


def _palette_png(with_alpha: bool = True) -> bytes:
    """A 64x96 palette PNG with opaque, half transparent and fully transparent colours."""
    import io

    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, size=(96, 64, 4), dtype=np.uint8)
    rgba[..., 3] = rng.choice([0, 40, 128, 200, 255], size=(96, 64))
    im = Image.fromarray(rgba, "RGBA").quantize(colors=200, method=Image.Quantize.FASTOCTREE)
    assert im.mode == "P"
    buf = io.BytesIO()
    (im if with_alpha else im.convert("RGB")).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["mp4", "webm", "mov"])
def test_palette_pngs_take_a_fast_path_with_the_same_pixels(fmt):
    from streamer.export.decode import CHROMA_FILTER, decode_palette_frame, decode_png, flatten

    data = _palette_png()
    options = ExportOptions(format=fmt, background=(30, 200, 90))
    fast = decode_palette_frame(data, (64, 96), options)
    assert fast is not None and fast.pict_type == av.video.frame.PictureType.NONE
    im = decode_png(data, "k")
    if options.has_alpha:
        slow = av.VideoFrame.from_ndarray(np.asarray(im), format="rgba")
    else:
        slow = av.VideoFrame.from_ndarray(np.asarray(flatten(im, options.background)), format="rgb24")
    slow = slow.reformat(format=fast.format.name, interpolation=CHROMA_FILTER)
    for a, b in zip(fast.planes, slow.planes, strict=True):
        assert np.array_equal(np.frombuffer(a, np.uint8), np.frombuffer(b, np.uint8))
    # Frames that need resizing, RGB PNGs and bytes that are not a PNG take the Pillow path.
    assert decode_palette_frame(data, (32, 48), options) is None
    assert decode_palette_frame(_palette_png(with_alpha=False), (64, 96), options) is None
    assert decode_palette_frame(b"not a png", (64, 96), options) is None


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """``samples`` (frames x channels, in 16-bit range) as a 16-bit WAV file."""
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return path


def test_stereo_audio_stays_stereo_and_lines_up(tmp_path, hello):
    timeline, schedule = hello
    rate, n = 22_050, 22_050 * 2
    t = np.arange(n) / rate
    left, right = np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)
    wav = _write_wav(tmp_path / "stereo.wav", np.stack([left, right], axis=1) * 12000, rate)
    out_path = tmp_path / "stereo.mp4"
    render(schedule, LocalFrameStore(RIG_DIR), AudioSource(wav), ExportOptions(scale=SCALE), output=out_path)
    (audio,) = _streams(ffprobe(out_path), "audio")
    assert audio["channels"] == 2 and audio["codec_name"] == "aac"
    assert abs(_audio_seconds(out_path) - schedule.frame_count(24) / 24) < 0.05


@pytest.mark.parametrize(("fmt", "rate"), [("mp4", 22_050), ("webm", 48_000), ("mov", 48_000)])
def test_audio_keeps_its_own_rate_where_the_codec_has_it_and_lands_on_time(tmp_path, hello, fmt, rate):
    _, schedule = hello
    assert schedule.frame_count(24) / 24 > 1.5
    source_rate = 22_050  # espeak's rate: AAC has it, Opus and editors' PCM get 48 kHz
    t = np.arange(source_rate * 3 // 2) / source_rate
    burst = (t >= 1.0) & (t < 1.1)  # a 1 kHz burst 1 s into the file, placed 200 ms into the timeline
    wav = _write_wav(tmp_path / "burst.wav", (np.sin(2 * np.pi * 1000 * t) * burst * 20000)[:, None], source_rate)
    out_path = tmp_path / f"burst.{fmt}"
    options = ExportOptions(format=fmt, scale=SCALE)
    render(schedule, LocalFrameStore(RIG_DIR), AudioSource(wav, offset_ms=200), options, output=out_path)
    with av.open(str(out_path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.sample_rate == rate
        onset = None
        for frame in container.decode(stream):
            samples = frame.to_ndarray()[0].astype(np.float64)
            if frame.format.name.startswith("s16"):
                samples /= 32768
            loud = np.flatnonzero(np.abs(samples) > 0.3 * 20000 / 32768)
            if loud.size and frame.time is not None and frame.time >= 0:
                onset = frame.time + loud[0] / rate
                break
    assert onset is not None and abs(onset - 1.2) < 0.01, onset
    assert abs(_audio_seconds(out_path) - schedule.frame_count(24) / 24) < 0.05


def _repeat_packet(data: bytes) -> bool:
    """Whether an MP4 sample (length-prefixed NAL units) is one repeat: a lone non-reference P slice
    of the repeats' PPS (B-frames are non-reference slices too)."""
    length = int.from_bytes(data[:4], "big")
    if len(data) != 4 + length or data[4] != 0x01:
        return False
    header = h264._Reader(data[5:])
    header.ue()  # first_mb_in_slice
    return header.ue() % 5 == 0 and header.ue() == h264.REPEAT_PPS_ID


@pytest.mark.parametrize("constant_rate", [False, True])
def test_repeats_show_exactly_the_picture_x264_made_for_their_frame(tmp_path, hello, constant_rate):
    _, schedule = hello
    keys = schedule.sample(24)
    out = _render(tmp_path, hello, "mp4", constant_rate=constant_rate)
    errors = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(out), "-f", "null", "-"], capture_output=True, text=True
    )
    assert errors.returncode == 0 and errors.stderr == ""
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        tiny = [
            (round(p.pts * p.time_base * 24), p.size)
            for p in container.demux(stream)
            if p.size and _repeat_packet(bytes(p))
        ]
    repeats = {i for i, _ in tiny}
    with av.open(str(out)) as container:
        frames = [(round(f.time * 24), f.to_ndarray(format="yuv420p")) for f in container.decode(video=0)]
    sent = list(range(len(keys))) if constant_rate else _sent(keys)
    assert [pts for pts, _ in frames] == sent
    # Most changes go back to a picture shown a moment ago; held frames at a constant rate are repeats too.
    assert len(repeats) >= len(sent) // (2 if constant_rate else 4)
    assert max(size for _, size in tiny) <= 40
    encoded: dict[str, np.ndarray] = {}  # key -> the newest picture x264 encoded for it
    for pts, picture in frames:
        key = keys[pts]
        if pts in repeats:
            assert key in encoded, f"frame {pts} repeats {key}, never encoded"
            assert np.array_equal(picture, encoded[key]), f"frame {pts} is not the picture x264 made for {key}"
        else:
            encoded[key] = picture


def test_high_quality_encodes_every_frame_it_sends(tmp_path, hello):
    out = _render(tmp_path, hello, "mp4", quality="high")
    with av.open(str(out)) as container:
        assert not any(_repeat_packet(bytes(p)) for p in container.demux(video=0) if p.size)
