"""Timeline files in and out: ``schedule``, ``export``, ``import`` and ``captions``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from streamer.cli.common import (
    LIPSYNC_HELP,
    add_rig_argument,
    find_audio,
    int_in,
    load_timeline_file,
    probe_audio,
    size_type,
    status,
)
from streamer.core.errors import StreamerError
from streamer.export.formats import FORMATS, QUALITIES, extensions_text
from streamer.settings import Settings


def cmd_schedule(args: argparse.Namespace, settings: Settings) -> int:
    from streamer.core.resolve import resolve
    from streamer.rigload import load_rig

    timeline = load_timeline_file(args.timeline)
    rig = load_rig(args.rig or settings.frames_dir)
    schedule = resolve(timeline, rig)
    json.dump(schedule.to_json(args.fps), sys.stdout, indent=None if args.compact else 1)
    sys.stdout.write("\n")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from streamer.export import ExportOptions
    from streamer.export.options import format_for_path, parse_color

    options = ExportOptions(
        format=format_for_path(args.output, args.format),
        fps=args.fps,
        size=args.size,
        scale=args.scale,
        quality=args.quality,
        background=parse_color(args.background),
        start_ms=args.start_ms,
        end_ms=args.end_ms,
        audio=not args.no_audio,
        constant_rate=args.constant_rate,
    )
    rig_dir = Path(args.rig) if args.rig else None
    export_file(Path(args.timeline), Path(args.output), options, rig_dir, settings, quiet=args.quiet)
    return 0


def export_file(
    timeline_path: Path, output: Path, options: Any, rig_dir: Path | None, settings: Settings, quiet: bool
) -> None:
    """Render the timeline in ``timeline_path`` (its audio next to it or in the data folder) to ``output``.

    The rig and its frames come from ``rig_dir`` if given, else from S3 with ``USE_S3`` (as
    ``serve`` reads them), else from ``STREAMER_FRAMES_DIR``.
    """
    import asyncio

    from tqdm import tqdm

    from streamer.core.resolve import resolve
    from streamer.export.render import AudioSource, RenderResult, render
    from streamer.services import open_frames

    if not output.parent.is_dir():
        raise StreamerError(f"{output.parent}: no such folder for the output")
    timeline = load_timeline_file(timeline_path)
    bars: list[Any] = []  # opened at the first progress report, once the frame count is known

    def progress(done: int, total: int, stage: str) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="frame", desc=stage, disable=quiet))
        bar = bars[0]
        bar.total = total
        bar.set_description(stage, refresh=False)
        bar.update(done - bar.n)

    async def run() -> RenderResult:
        async with open_frames(settings, rig_dir) as frames:
            schedule = resolve(timeline, frames.rig)
            audio = None
            if timeline.audio is not None and options.audio:
                path = find_audio(timeline.audio.id, timeline_path, settings)
                probe_audio(path)  # before any frame is drawn: an unreadable file is one error line
                audio = AudioSource(path, timeline.audio.offset_ms)
            store = frames.export_store
            assert store is not None
            loop = asyncio.get_running_loop()
            max_ms = settings.export_max_s * 1000
            return await asyncio.to_thread(
                render, schedule, store, audio, options, progress, output=output, loop=loop, max_duration_ms=max_ms
            )

    try:
        result = asyncio.run(run())
    finally:
        for bar in bars:
            bar.close()
    audio_note = "with audio" if result.has_audio else "no audio"
    print(
        f"wrote {output}: {result.format}, {result.width}x{result.height}, {result.frames} frames "
        f"({result.distinct_frames} distinct) at {options.fps} fps, {result.duration_ms / 1000:.2f} s, {audio_note}, "
        f"in {result.seconds:.1f} s"
    )


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from streamer.rigload import load_rig
    from streamer.speech.formats.imports import import_timeline
    from streamer.storage import validate_audio_id

    source, output = Path(args.file), Path(args.output)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise StreamerError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    if not output.parent.is_dir():
        raise StreamerError(f"{output.parent}: no such folder for the output")
    audio_id = audio_ms = None
    if args.audio:
        audio = Path(args.audio)
        try:
            audio_id = validate_audio_id(audio.name)
        except StreamerError:
            raise StreamerError(
                f"--audio {audio}: the file name must be letters, digits, '_' or '-' with an audio extension"
            ) from None
        if audio.is_file():
            audio_ms = probe_audio(audio).duration_ms
        else:
            status(f"note: {audio} does not exist yet; the timeline names it {audio_id!r}", args.quiet)
        if audio.parent.resolve() != output.parent.resolve():
            status(f"note: the timeline names its audio {audio_id!r}; keep it next to the timeline", args.quiet)
    rig = load_rig(args.rig or settings.frames_dir)
    imported = import_timeline(
        source.name,
        data,
        list(rig.config.expressions),
        rig.config.visemes,
        audio_id=audio_id,
        audio_duration_ms=audio_ms,
        mode=args.lipsync,
        anticipation_ms=args.anticipation_ms,
        fmt=args.format,
    )
    for warning in imported.warnings:
        status(f"warning: {warning}", args.quiet)
    output.write_text(json.dumps(imported.timeline, indent=1) + "\n", encoding="utf-8")
    tracks = imported.timeline["tracks"]
    counts = ", ".join(f"{len(v)} {k}" for k, v in tracks.items() if v)
    status(f"wrote {output} from {imported.format}: {counts or 'no items'}", args.quiet)
    return 0


def cmd_captions(args: argparse.Namespace, settings: Settings) -> int:
    from streamer.rigload import load_rig
    from streamer.speech.formats.captions import export_timeline, format_for_path

    fmt = format_for_path(args.output, args.format or ("srt" if args.output == "-" else None))
    output = Path(args.output)
    if args.output != "-" and not output.parent.is_dir():
        raise StreamerError(f"{output.parent}: no such folder for the output")
    timeline = load_timeline_file(args.timeline)
    # The map only matters for cues without a phoneme label (the Rhubarb shapes), as for the other commands.
    rig = load_rig(args.rig or settings.frames_dir)
    exported = export_timeline(timeline, fmt, rig.config.visemes)
    if args.output == "-":
        sys.stdout.write(exported.text)
    else:
        output.write_text(exported.text, encoding="utf-8")
        status(f"wrote {output} ({fmt})", args.quiet)
    return 0


def add_commands(sub: Any) -> None:
    from streamer.speech.formats import captions, imports
    from streamer.speech.lipsync.visemes import ANTICIPATION_MS, MAX_ANTICIPATION_MS, MODES

    sched = sub.add_parser("schedule", help="resolve a timeline and print its frame schedule as JSON")
    sched.add_argument("timeline", help="timeline JSON (v1 or a face_rig keyframe list)")
    add_rig_argument(sched)
    sched.add_argument("--fps", help="also list the frame key of every frame index at this rate (e.g. 24, 30000/1001)")
    sched.add_argument("--compact", action="store_true", help="one-line JSON")
    sched.set_defaults(func=cmd_schedule)

    formats = ", ".join(spec.label for spec in FORMATS.values())
    export = sub.add_parser("export", help=f"render a timeline to a video file ({formats})")
    export.add_argument("timeline", help="timeline JSON (v1 or a face_rig keyframe list)")
    export.add_argument("-o", "--output", required=True, help=f"output file; {extensions_text()} sets the format")
    export.add_argument("--format", choices=list(FORMATS), help="format (default: from the extension)")
    export.add_argument("--fps", type=int, default=24, help="frames per second, 12-60 (default 24)")
    scaling = export.add_mutually_exclusive_group()
    scaling.add_argument("--size", type=size_type, help="WIDTHxHEIGHT box to fit the frames in, keeping their aspect")
    scaling.add_argument("--scale", type=float, help="scale the rig's size (e.g. 0.5)")
    add_rig_argument(export)
    export.add_argument("--quality", choices=QUALITIES, default="standard", help="encoder effort (default standard)")
    export.add_argument(
        "--background", default="#ffffff", help="MP4 background colour behind the character (default #ffffff)"
    )
    export.add_argument("--start-ms", type=int, default=0, help="start of the exported part (ms)")
    export.add_argument("--end-ms", type=int, help="end of the exported part (ms; default: the end)")
    export.add_argument("--no-audio", action="store_true", help="leave the timeline's audio out")
    export.add_argument(
        "--constant-rate",
        action="store_true",
        help="MP4/WebM: encode every frame, held ones too (default: variable rate, for editors that need constant)",
    )
    export.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    export.set_defaults(func=cmd_export)

    imp = sub.add_parser("import", help="make a timeline from a TextGrid, Rhubarb JSON/TSV or face_rig keyframes")
    imp.add_argument("file", help="Praat .TextGrid (e.g. from MFA), Rhubarb .json/.tsv, or face_rig keyframe .json")
    imp.add_argument("-o", "--output", required=True, help="timeline JSON to write")
    imp.add_argument("--audio", help="the recording; the timeline plays it by its file name (keep them together)")
    imp.add_argument("--format", choices=imports.FORMATS, help="the input's format (default: read from the file)")
    imp.add_argument("--lipsync", choices=MODES, default=MODES[0], help=LIPSYNC_HELP + " (TextGrid)")
    imp.add_argument(
        "--anticipation-ms",
        type=int_in(0, MAX_ANTICIPATION_MS),
        default=ANTICIPATION_MS,
        help=f"mouth leads the sound by this much, 0-{MAX_ANTICIPATION_MS} (default {ANTICIPATION_MS})",
    )
    add_rig_argument(imp)
    imp.add_argument("-q", "--quiet", action="store_true", help="no status lines")
    imp.set_defaults(func=cmd_import)

    cap = sub.add_parser("captions", help="export a timeline's captions (SRT, WebVTT) or lip-sync (Rhubarb, TextGrid)")
    cap.add_argument("timeline", help="timeline JSON with a words track (captions) or speech track (lip-sync)")
    cap.add_argument("-o", "--output", required=True, help="out.srt, .vtt, .json (Rhubarb), .tsv, .TextGrid or -")
    cap.add_argument(
        "--format", choices=list(captions.FORMATS), help="the format (default: from the extension; srt for -o -)"
    )
    cap.add_argument("--rig", help="rig folder for the viseme map (default: STREAMER_FRAMES_DIR or the demo rig)")
    cap.add_argument("-q", "--quiet", action="store_true", help="no status lines")
    cap.set_defaults(func=cmd_captions)
