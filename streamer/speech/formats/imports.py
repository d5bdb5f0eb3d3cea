"""Imports: Praat TextGrids, Rhubarb Lip Sync cues and face_rig keyframes to our values and v1 timelines (pure).

Parsers take text (or bytes, for detection) and never touch files; the CLI reads them. Every
error is a :class:`FormatError` (a ``ValueError``) whose message names the line or field.

Public API::

    parse_textgrid(text) -> TextGrid                 long and short formats (streamer.speech.formats.textgrid)
    alignment_from_textgrid(grid) -> Alignment       tiers "words" and "phones" (MFA's output)
    parse_rhubarb_json(text) -> RhubarbTrack         {"metadata": ..., "mouthCues": [...]}
    parse_rhubarb_tsv(text, duration_ms=None) -> RhubarbTrack
    speech_track_from_cues(cues, visemes_map, expressions) -> list[dict]
    detect_format(name, data) -> str                 "textgrid" | "rhubarb_json" | "rhubarb_tsv" | "keyframes" | "v1"
    import_timeline(name, data, expressions, visemes_map, audio_id=None, ...) -> Imported
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamer.core.errors import TimelineError
from streamer.core.timeline import loads, parse_timeline, timeline_to_json
from streamer.speech.errors import FormatError, RhubarbError
from streamer.speech.formats.textgrid import MAX_SECONDS, alignment_from_textgrid, parse_textgrid
from streamer.speech.lipsync.rhubarb import REST, SHAPE_SOUNDS, SHAPES, MouthCue, expression_for_shape
from streamer.speech.lipsync.timelines import alignment_timeline, speech_timeline
from streamer.speech.lipsync.visemes import ANTICIPATION_MS
from streamer.speech.units import seconds_to_ms

FORMATS = ("textgrid", "rhubarb_json", "rhubarb_tsv", "keyframes", "v1")
# A final TSV shape with no end in the file (Rhubarb always ends with X) holds this long.
TSV_LAST_CUE_MS = 100


def decode_text(data: bytes, what: str = "file") -> str:
    """``data`` as text: UTF-8 (with or without a BOM) or UTF-16 with a BOM (Praat's choice for non-ASCII)."""
    codec = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise FormatError(f"{what}: not {codec.upper()} text (byte {exc.start})") from None


# -- Rhubarb Lip Sync ----------------------------------------------------------------------


@dataclass(frozen=True)
class RhubarbTrack:
    """Mouth cues as Rhubarb writes them (``X`` included), with the file's metadata."""

    cues: list[MouthCue]
    duration_ms: int | None = None
    sound_file: str | None = None


def _shape(value: object, where: str) -> str:
    if not isinstance(value, str) or value not in SHAPES:
        raise RhubarbError(f"{where}: mouth shape must be one of {', '.join(SHAPES)}, got {str(value)[:20]!r}")
    return value


def _seconds(value: object, where: str) -> int:
    return seconds_to_ms(value, where, RhubarbError, MAX_SECONDS)


def parse_rhubarb_json(text: str) -> RhubarbTrack:
    """Rhubarb's JSON export (``rhubarb -f json``); raises :class:`RhubarbError` naming the field."""
    try:
        data = loads(text)
    except TimelineError as exc:
        raise RhubarbError(str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("mouthCues"), list):
        raise RhubarbError("mouthCues: missing (not a Rhubarb Lip Sync JSON file)")
    meta = data.get("metadata", {})
    if not isinstance(meta, dict):
        raise RhubarbError("metadata: must be an object")
    duration = None if meta.get("duration") is None else _seconds(meta["duration"], "metadata.duration")
    sound_file = meta.get("soundFile")
    if sound_file is not None and not isinstance(sound_file, str):
        raise RhubarbError("metadata.soundFile: must be a string")
    cues: list[MouthCue] = []
    for i, raw in enumerate(data["mouthCues"]):
        where = f"mouthCues[{i}]"
        if not isinstance(raw, dict):
            raise RhubarbError(f"{where}: must be an object {{start, end, value}}")
        cue = MouthCue(_seconds(raw.get("start"), f"{where}.start"), _seconds(raw.get("end"), f"{where}.end"), "")
        cue = MouthCue(cue.t_ms, cue.end_ms, _shape(raw.get("value"), f"{where}.value"))
        if cue.end_ms < cue.t_ms:
            raise RhubarbError(f"{where}: end is before start")
        if cues and cue.t_ms < cues[-1].end_ms:
            raise RhubarbError(f"{where}: starts before mouthCues[{i - 1}] ends (cues must be sorted)")
        cues.append(cue)
    return RhubarbTrack(cues, duration, sound_file)


def parse_rhubarb_tsv(text: str, duration_ms: int | None = None) -> RhubarbTrack:
    """Rhubarb's TSV export: ``<seconds>\\t<shape>`` lines, each shape lasting until the next line.

    The last line's shape ends at ``duration_ms`` when given; without it a final ``X`` just
    marks the end, and another final shape holds :data:`TSV_LAST_CUE_MS`.
    """
    starts: list[tuple[int, str, int]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise RhubarbError(f"line {n}: expected '<seconds><TAB><shape>', got {line[:40]!r}")
        try:
            seconds = float(parts[0])
        except ValueError:
            raise RhubarbError(f"line {n}: time {parts[0][:20]!r} is not a number of seconds") from None
        t_ms = _seconds(seconds, f"line {n}")
        if starts and t_ms < starts[-1][0]:
            raise RhubarbError(f"line {n}: time {parts[0]} is before the previous line's (lines must be sorted)")
        starts.append((t_ms, _shape(parts[1], f"line {n}"), n))
    cues: list[MouthCue] = []
    for k, (t_ms, shape, _) in enumerate(starts):
        if k + 1 < len(starts):
            end_ms = starts[k + 1][0]
        elif duration_ms is not None:
            end_ms = max(duration_ms, t_ms)
        else:
            end_ms = t_ms if shape == REST else t_ms + TSV_LAST_CUE_MS
        if end_ms > t_ms:
            cues.append(MouthCue(t_ms, end_ms, shape))
    return RhubarbTrack(cues, duration_ms)


def speech_track_from_cues(
    cues: Iterable[MouthCue], visemes_map: Mapping[str, str], expressions: Iterable[str]
) -> list[dict[str, Any]]:
    """A v1 ``speech`` track showing Rhubarb cues with the rig's expressions (:mod:`streamer.speech.lipsync.rhubarb`).

    Times are kept as in the file; ``X`` leaves a gap; touching cues that land on the same
    expression merge. Each cue's ``phoneme`` is the sound its shape stands for.
    """
    known = list(expressions)
    track: list[dict[str, Any]] = []
    for cue in cues:
        expr = expression_for_shape(cue.shape, visemes_map, known)
        if expr is None or cue.end_ms <= cue.t_ms:
            continue
        if track and track[-1]["viseme"] == expr and track[-1]["end_ms"] == cue.t_ms:
            track[-1]["end_ms"] = cue.end_ms
        else:
            track.append(
                {"t_ms": cue.t_ms, "end_ms": cue.end_ms, "viseme": expr, "phoneme": SHAPE_SOUNDS[cue.shape][0]}
            )
    return track


# -- detection and whole timelines ---------------------------------------------------------


def detect_format(name: str, data: bytes) -> str:
    """Which of :data:`FORMATS` ``data`` is, from its content (the file ``name``'s extension breaks ties)."""
    head = decode_text(data[:4096].rstrip(b"\x00"), name) if data else ""
    stripped = head.lstrip()
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if "ooTextFile" in stripped[:200] or "ooBinaryFile" in stripped[:200] or ext == "textgrid":
        return "textgrid"
    if stripped.startswith(("{", "[")):
        try:
            doc = json.loads(decode_text(data, name))
        except ValueError:
            raise FormatError(f"{name}: invalid JSON") from None
        if isinstance(doc, dict) and "mouthCues" in doc:
            return "rhubarb_json"
        if isinstance(doc, list) or (isinstance(doc, dict) and "keyframes" in doc and "version" not in doc):
            return "keyframes"
        if isinstance(doc, dict) and "version" in doc:
            return "v1"
        raise FormatError(f"{name}: JSON that is neither Rhubarb (mouthCues), face_rig keyframes nor a v1 timeline")
    if ext == "tsv" or re.match(r"\s*\d+(?:\.\d+)?\t[A-HX]\s*$", stripped.split("\n", 1)[0]):
        return "rhubarb_tsv"
    raise FormatError(f"{name}: unknown format (expected a Praat TextGrid, Rhubarb JSON or TSV, or face_rig keyframes)")


@dataclass(frozen=True)
class Imported:
    """A v1 timeline made from an import file, the format it came from, and notes for the user."""

    timeline: dict[str, Any]
    format: str
    warnings: list[str] = field(default_factory=list)


def import_timeline(
    name: str,
    data: bytes,
    expressions: Sequence[str],
    visemes_map: Mapping[str, str],
    *,
    audio_id: str | None = None,
    audio_duration_ms: int | None = None,
    mode: str = "phoneme",
    anticipation_ms: int = ANTICIPATION_MS,
    fmt: str | None = None,
) -> Imported:
    """A v1 timeline from the import file ``name`` holding ``data``, using only the rig's ``expressions``.

    TextGrids get lip-sync from their phones (``mode``, ``anticipation_ms`` and the rig's
    ``visemes_map``) and an emotion track planned from their words by the offline rules;
    Rhubarb cues become the ``speech`` track as they are; face_rig keyframes and v1 timelines
    are converted by :func:`~streamer.core.timeline.parse_timeline`. ``audio_id`` becomes the
    timeline's audio. Raises :class:`FormatError` or ``TimelineError`` naming the problem.
    """
    fmt = fmt or detect_format(name, data)
    if fmt not in FORMATS:
        raise FormatError(f"format: must be one of {', '.join(FORMATS)}, got {fmt[:40]!r}")
    text = decode_text(data, name)
    warnings: list[str] = []
    if fmt == "textgrid":
        alignment = alignment_from_textgrid(parse_textgrid(text))
        warnings += alignment.warnings
        doc = alignment_timeline(
            alignment, audio_id, expressions, visemes_map, mode=mode, anticipation_ms=anticipation_ms
        )
    elif fmt in ("rhubarb_json", "rhubarb_tsv"):
        track = parse_rhubarb_json(text) if fmt == "rhubarb_json" else parse_rhubarb_tsv(text, audio_duration_ms)
        last = max([c.end_ms for c in track.cues] + [track.duration_ms or 0, audio_duration_ms or 0])
        speech = speech_track_from_cues(track.cues, visemes_map, expressions)
        doc = speech_timeline([], speech, last, audio_id)
    else:
        doc = timeline_to_json(parse_timeline(loads(text)))
        if audio_id is not None:
            doc["audio"] = {"id": audio_id, "offset_ms": 0}
            parse_timeline(doc)  # the audio id is checked; the builders above check their own
    return Imported(doc, fmt, warnings)


__all__ = [
    "FORMATS",
    "Imported",
    "RhubarbTrack",
    "alignment_from_textgrid",
    "decode_text",
    "detect_format",
    "import_timeline",
    "parse_rhubarb_json",
    "parse_rhubarb_tsv",
    "parse_textgrid",
    "speech_track_from_cues",
]
