"""The export formats: one table of format specs, read by options, renderer, CLI, REST and the page (pure).

A new format is one :class:`ExportFormat` in :data:`FORMATS` (or one module defining it, and
a line here that adds it): the options accept its name, the renderer encodes it, ``streamer
export --format`` offers it, ``POST /exports`` validates it, ``GET /exports/formats`` lists it
and the preview page builds its format menu from that list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamer.export.errors import ExportError

QUALITIES = ("draft", "standard", "high")


@dataclass(frozen=True)
class ExportFormat:
    """How one export format is written, and how it is shown to people.

    ``encoder_options`` has one entry per quality of :data:`QUALITIES`. ``variable_rate``: held
    frames may be left out (their predecessor's timestamp carries them) unless the export asks
    for a constant rate. ``bytes_per_pixel`` sizes the renderer's cache of converted frames.
    """

    name: str
    label: str  # the page's menu entry
    description: str
    container: str
    video_codec: str
    pixel_format: str
    bytes_per_pixel: float
    audio_codec: str
    audio_sample_format: str  # fltp, flt (interleaved float) or s16 (interleaved)
    media_type: str
    alpha: bool
    variable_rate: bool
    encoder_options: Mapping[str, Mapping[str, str]]
    container_options: Mapping[str, str] = field(default_factory=dict)
    thread_type: str = "FRAME"
    # Qualities whose repeats of a picture the decoder still holds are written as a few bytes
    # (H.264 only: streamer.export.h264), so the encoder gets only new pictures.
    repeats: frozenset[str] = frozenset()
    audio_bit_rate: int | None = 64_000  # per channel; None for uncompressed audio
    # Sample rates an audio file keeps (no resampling, and no encoding work spent on a band the
    # file does not have); any other rate, and every rate when empty, becomes 48 kHz.
    audio_rates: frozenset[int] = frozenset()

    @property
    def extension(self) -> str:
        return self.name

    def to_json(self) -> dict[str, Any]:
        """What ``GET /exports/formats`` lists."""
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "extension": self.extension,
            "media_type": self.media_type,
            "alpha": self.alpha,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
        }


X264_PARAMS = ":".join(
    (
        "rc-lookahead=10:mbtree=1:qcomp=0.3",
        # Whole-pixel motion (subme 0): a drawn character moves in steps, and x264 then keeps no
        # half-pixel planes per reference (100 MB less at 1024x1536; docs/export.md).
        "ref=16:subme=0",
        # Frame types come from the renderer (streamer.export.h264): every frame a reference P,
        # keyframes where it puts them. B-frames allowed (3, pyramid) but never used: slice headers
        # then carry picture order counts, which repeats need, in 6 bits (up to 16 repeats in a
        # row), with a 3-frame delay (16 B-frames: 7 bits, and 70 MB more for their delay).
        "bframes=3:b-pyramid=normal:keyint=infinite:scenecut=0",
        "cabac=1:deblock=1,1:partitions=i8x8,i4x4:8x8dct=1:aq-mode=1",
        # No threaded lookahead's frame buffer: the same file with 36 MB less memory at 1024x1536
        # (memory touched afresh costs CPU on a VM; docs/export.md).
        "sync-lookahead=0",
    )
)
# VP9 with alpha: the realtime deadline keeps its two streams fast; alt-ref frames do not mix with alpha.
_VP9 = {"b": "0", "row-mt": "1", "auto-alt-ref": "0"}

MP4 = ExportFormat(
    name="mp4",
    label="MP4 · H.264",
    description="H.264 on a white background",
    container="mp4",
    video_codec="libx264",
    pixel_format="yuv420p",
    bytes_per_pixel=1.5,
    audio_codec="aac",
    audio_sample_format="fltp",
    media_type="video/mp4",
    alpha=False,
    variable_rate=True,
    # Measured with benchmarks/export.py (1024x1536 talking character, SSIM against the source;
    # docs/export.md). A talking character cycles through a few pictures, so draft and standard
    # encode a picture once and show it again as a repeat (a few bytes; streamer.export.h264)
    # while the decoder holds it among its 16 references. x264 ultrafast's fast analysis with
    # the tools that pay on a character who holds most of the picture: macroblock-tree rate
    # control over a 10-frame lookahead, made stronger (qcomp 0.3), with each picture's screen
    # time (its repeats included) as its duration, spends the bits on what stays on screen;
    # CABAC, deblocking, 8x8 transforms and adaptive quantisation. Standard's CRF 27 is the old
    # method's (x264 medium, CRF 23) quality or better in a smaller video stream on the
    # benchmark's timeline; draft trades quality for size. "high" is medium at CRF 18, every
    # frame encoded by x264 (its B-frames and analysis, no repeats).
    encoder_options={
        "draft": {"preset": "ultrafast", "crf": "30", "forced-idr": "1", "x264-params": X264_PARAMS},
        "standard": {"preset": "ultrafast", "crf": "27", "forced-idr": "1", "x264-params": X264_PARAMS},
        "high": {"preset": "medium", "crf": "18"},
    },
    container_options={"movflags": "+faststart"},
    repeats=frozenset({"draft", "standard"}),
    # AAC-LC's sampling rates up to 48 kHz: speech at 22.05 or 24 kHz is encoded at its own
    # rate, in 60 % of the AAC time at 48 kHz. (Opus works at 48 kHz; editors expect 48 kHz PCM.)
    audio_rates=frozenset({8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000}),
)
WEBM = ExportFormat(
    name="webm",
    label="WebM · alpha",
    description="VP9 with alpha, for browsers and overlays",
    container="webm",
    video_codec="libvpx-vp9",
    pixel_format="yuva420p",
    bytes_per_pixel=2.5,
    audio_codec="libopus",
    audio_sample_format="flt",
    media_type="video/webm",
    alpha=True,
    variable_rate=True,
    encoder_options={
        "draft": {"deadline": "realtime", "cpu-used": "8", "crf": "36", **_VP9},
        "standard": {"deadline": "realtime", "cpu-used": "7", "crf": "30", **_VP9},
        "high": {"deadline": "good", "cpu-used": "4", "crf": "24", **_VP9},
    },
    thread_type="AUTO",
)
MOV = ExportFormat(
    name="mov",
    label="MOV · ProRes",
    description="ProRes 4444 with alpha, for video editors",
    container="mov",
    video_codec="prores_ks",
    pixel_format="yuva444p10le",
    bytes_per_pixel=8.0,
    audio_codec="pcm_s16le",
    audio_sample_format="s16",
    media_type="video/quicktime",
    alpha=True,
    variable_rate=False,  # editors expect every frame
    encoder_options={
        quality: {"profile": "4444", "vendor": "apl0", "qscale": q}
        for quality, q in (("draft", "11"), ("standard", "6"), ("high", "3"))
    },
    container_options={"movflags": "+faststart"},
    audio_bit_rate=None,
)

# Every format, by name, in the order menus show them (the first is the default).
FORMATS: dict[str, ExportFormat] = {f.name: f for f in (MP4, WEBM, MOV)}


def extensions_text() -> str:
    """``.mp4, .webm or .mov``: the extensions for messages and help."""
    names = [f".{f.extension}" for f in FORMATS.values()]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def get_format(name: str) -> ExportFormat:
    """The spec of format ``name``; raises :class:`ExportError` naming the known ones."""
    spec = FORMATS.get(name)
    if spec is None:
        raise ExportError(f"format: must be one of {', '.join(FORMATS)}, got {name!r}")
    return spec
