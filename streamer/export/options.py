"""Export options: a frozen value parsed from JSON or CLI flags, validated once (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from streamer.export.errors import ExportError
from streamer.export.formats import FORMATS, QUALITIES, ExportFormat, extensions_text, get_format

FPS_RANGE = (12, 60)
SIDE_RANGE = (16, 4096)
SCALE_RANGE = (0.05, 4.0)
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")
_NAMED = {"white": (255, 255, 255), "black": (0, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def parse_color(value: object) -> tuple[int, int, int]:
    """``"#rrggbb"``, ``"rrggbb"``, a few names or ``[r, g, b]`` as an RGB tuple."""
    if isinstance(value, str):
        named = _NAMED.get(value.strip().lower())
        if named:
            return named
        m = _HEX.fullmatch(value.strip())
        if m:
            raw = m.group(1)
            return int(raw[0:2], 16), int(raw[2:4], 16), int(raw[4:6], 16)
    elif (
        isinstance(value, list | tuple)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
    ):
        return int(value[0]), int(value[1]), int(value[2])
    raise ExportError(f"background: expected '#rrggbb' or [r, g, b], got {str(value)[:40]!r}")


def parse_size(value: object) -> tuple[int, int]:
    """``"WxH"`` or ``[w, h]`` within :data:`SIDE_RANGE`."""
    if isinstance(value, str):
        parts = value.lower().split("x")
        try:
            w, h = (int(p) for p in parts)
        except ValueError:
            raise ExportError(f"size: expected WIDTHxHEIGHT, got {value[:40]!r}") from None
    elif isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        w, h = int(value[0]), int(value[1])
    else:
        raise ExportError(f"size: expected WIDTHxHEIGHT or [w, h], got {str(value)[:40]!r}")
    lo, hi = SIDE_RANGE
    if not (lo <= w <= hi and lo <= h <= hi):
        raise ExportError(f"size: each side must be in [{lo}, {hi}], got {w}x{h}")
    return w, h


def _int_field(doc: dict[str, Any], name: str) -> int | None:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ExportError(f"{name}: must be a non-negative integer, got {value!r}")
    return value


@dataclass(frozen=True)
class ExportOptions:
    """How to export.

    ``size`` is a bounding box: the frame is scaled to fit it, keeping its aspect, and
    centred on the background (transparent for formats with alpha). ``scale`` multiplies the rig's
    size instead. Sides are rounded down to even numbers (4:2:0 chroma needs them).
    ``start_ms``/``end_ms`` trim the schedule; frame ``i`` of the output shows the schedule at
    ``start_ms + i * 1000 / fps``, sampled exactly. Formats that allow it (MP4, WebM) are
    variable frame rate unless ``constant_rate``: a frame that repeats the one before is not
    encoded again, the one before is shown until the next timestamp (MOV, for editors, always
    has every frame).
    """

    format: str = "mp4"
    fps: int = 24
    size: tuple[int, int] | None = None
    scale: float | None = None
    quality: str = "standard"
    background: tuple[int, int, int] = (255, 255, 255)
    start_ms: int = 0
    end_ms: int | None = None
    audio: bool = True
    constant_rate: bool = False

    def __post_init__(self) -> None:
        get_format(self.format)
        lo, hi = FPS_RANGE
        if isinstance(self.fps, bool) or not isinstance(self.fps, int) or not lo <= self.fps <= hi:
            raise ExportError(f"fps: must be an integer in [{lo}, {hi}], got {self.fps!r}")
        if self.size is not None and self.scale is not None:
            raise ExportError("size, scale: give one or the other, not both")
        if self.scale is not None and not SCALE_RANGE[0] <= self.scale <= SCALE_RANGE[1]:
            raise ExportError(f"scale: must be in [{SCALE_RANGE[0]}, {SCALE_RANGE[1]}], got {self.scale!r}")
        if self.quality not in QUALITIES:
            raise ExportError(f"quality: must be one of {', '.join(QUALITIES)}, got {self.quality!r}")
        if self.end_ms is not None and self.end_ms <= self.start_ms:
            raise ExportError(f"end_ms: must be after start_ms ({self.start_ms}), got {self.end_ms}")

    @property
    def spec(self) -> ExportFormat:
        """The format's spec (codecs, pixel format, encoder options) from :data:`FORMATS`."""
        return FORMATS[self.format]

    @property
    def extension(self) -> str:
        return self.spec.extension

    @property
    def media_type(self) -> str:
        return self.spec.media_type

    @property
    def has_alpha(self) -> bool:
        return self.spec.alpha

    @property
    def variable_rate(self) -> bool:
        """Held frames are left out (their predecessor's timestamp carries them), if the format allows it."""
        return not self.constant_rate and self.spec.variable_rate

    @property
    def rate(self) -> Fraction:
        return Fraction(self.fps)

    def output_size(self, source: tuple[int, int]) -> tuple[int, int]:
        """The encoded width and height for frames of ``source`` size (even sides)."""
        if self.size is not None:
            w, h = self.size
        elif self.scale is not None:
            w, h = round(source[0] * self.scale), round(source[1] * self.scale)
        else:
            w, h = source
        w, h = max(w - w % 2, 2), max(h - h % 2, 2)
        if not (SIDE_RANGE[0] <= w <= SIDE_RANGE[1] and SIDE_RANGE[0] <= h <= SIDE_RANGE[1]):
            raise ExportError(f"size: the output would be {w}x{h}; each side must be in {list(SIDE_RANGE)}")
        return w, h

    def span_ms(self, duration_ms: int) -> tuple[int, int]:
        """``(start_ms, end_ms)`` of the exported part of a schedule lasting ``duration_ms``."""
        end = duration_ms if self.end_ms is None else min(self.end_ms, duration_ms)
        if self.start_ms >= end:
            raise ExportError(f"start_ms: {self.start_ms} is not before the end of the timeline ({end} ms)")
        return self.start_ms, end

    @classmethod
    def parse(cls, doc: object) -> ExportOptions:
        """Options from a JSON object; unknown fields are an error naming them."""
        if doc is None:
            return cls()
        if not isinstance(doc, dict):
            raise ExportError(f"options: expected an object, got {type(doc).__name__}")
        unknown = sorted(set(doc) - _FIELDS)
        if unknown:
            raise ExportError(f"options: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}")
        kwargs: dict[str, Any] = {}
        if doc.get("format") is not None:
            kwargs["format"] = str(doc["format"]).lower().lstrip(".")
        if doc.get("fps") is not None:
            kwargs["fps"] = doc["fps"]
        if doc.get("size") is not None:
            kwargs["size"] = parse_size(doc["size"])
        if doc.get("scale") is not None:
            scale = doc["scale"]
            if isinstance(scale, bool) or not isinstance(scale, int | float):
                raise ExportError(f"scale: must be a number, got {scale!r}")
            kwargs["scale"] = float(scale)
        if doc.get("quality") is not None:
            kwargs["quality"] = doc["quality"]
        if doc.get("background") is not None:
            kwargs["background"] = parse_color(doc["background"])
        start = _int_field(doc, "start_ms")
        if start is not None:
            kwargs["start_ms"] = start
        end = _int_field(doc, "end_ms")
        if end is not None:
            kwargs["end_ms"] = end
        for flag in ("audio", "constant_rate"):
            if doc.get(flag) is not None:
                if not isinstance(doc[flag], bool):
                    raise ExportError(f"{flag}: must be true or false, got {doc[flag]!r}")
                kwargs[flag] = doc[flag]
        return cls(**kwargs)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "fps": self.fps,
            "size": list(self.size) if self.size else None,
            "scale": self.scale,
            "quality": self.quality,
            "background": "#{:02x}{:02x}{:02x}".format(*self.background),
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "audio": self.audio,
            "constant_rate": self.constant_rate,
        }


_FIELDS = frozenset(
    {"format", "fps", "size", "scale", "quality", "background", "start_ms", "end_ms", "audio", "constant_rate"}
)


def format_for_path(path: str, given: str | None = None) -> str:
    """The format named by ``given``, else by the extension of ``path``."""
    if given:
        return given.lower().lstrip(".")
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix not in FORMATS:
        raise ExportError(f"format: cannot tell it from {path!r}; use {extensions_text()}, or pass --format")
    return suffix
