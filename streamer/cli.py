"""The ``streamer`` command line (I/O): composes the core and adapters for each subcommand."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from streamer.core.errors import RigError, StreamerError
from streamer.core.rig import Rig
from streamer.settings import Settings

log = logging.getLogger("streamer")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"size {text!r} is out of range (16..8192 per side)")
    return w, h


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number in ``[lo, hi]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in [{lo}, {hi}], got {value}")
        return value

    return parse


def cmd_rig_check(args: argparse.Namespace) -> int:
    from streamer.rigs.check import check_rig

    result = check_rig(Path(args.dir))
    for line in result.lines:
        print(line)
    for problem in result.problems:
        print(f"error: {problem}", file=sys.stderr)
    if result.problems:
        print(f"{args.dir}: {len(result.problems)} problem(s)", file=sys.stderr)
        return 1
    print("ok")
    return 0


def cmd_rig_demo(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from streamer.demo import write_demo_rig

    out = Path(args.out)
    bars: list[Any] = []  # opened at the first progress report: a refusal prints no empty bar

    def progress(done: int, total: int) -> None:
        if not bars:
            desc = f"drawing {args.size[0]}x{args.size[1]} rig"
            bars.append(tqdm(total=total, unit="frame", desc=desc, disable=args.quiet))
        bars[0].total = total
        bars[0].n = done
        bars[0].refresh()

    try:
        write_demo_rig(out, size=args.size, progress=progress, overwrite=args.force)
    except FileExistsError as exc:
        raise StreamerError(str(exc).replace("pass overwrite=True", "pass --force")) from None
    finally:
        for bar in bars:
            bar.close()
    print(f"wrote demo rig to {out}; check it with: streamer rig check {out}")
    return 0


def _read_timeline_file(path: str | Path) -> tuple[Any, Any]:
    """The JSON document in ``path`` and the timeline it parses to; errors name the file."""
    from streamer.core.errors import TimelineError
    from streamer.core.timeline import loads, parse_timeline

    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise StreamerError(f"{path}: cannot read the timeline: {exc.strerror or exc}") from None
    try:
        document = loads(text)
        return document, parse_timeline(document)
    except TimelineError as exc:
        raise TimelineError(f"{path}: not a timeline: {exc}") from None


def _load_timeline_file(path: str) -> Any:
    return _read_timeline_file(path)[1]


def _probe_audio(path: Path) -> Any:
    """``probe_audio`` with errors that name the file."""
    from streamer.storage import AudioError, probe_audio

    try:
        return probe_audio(path)
    except AudioError as exc:
        raise AudioError(f"{path}: {str(exc).removeprefix('upload ')}") from None


def cmd_schedule(args: argparse.Namespace) -> int:
    from streamer.core.resolve import resolve
    from streamer.rigload import load_rig

    timeline = _load_timeline_file(args.timeline)
    rig = load_rig(args.rig or Settings.from_env().frames_dir)
    schedule = resolve(timeline, rig)
    json.dump(schedule.to_json(args.fps), sys.stdout, indent=None if args.compact else 1)
    sys.stdout.write("\n")
    return 0


def _find_audio(audio_id: str, timeline_path: Path, settings: Settings) -> Path:
    """The timeline's audio file: next to the timeline file, else in the data folder's audio store."""
    from streamer.storage import validate_audio_id

    validate_audio_id(audio_id)
    for candidate in (timeline_path.parent / audio_id, settings.data_dir / "audio" / audio_id):
        if candidate.is_file():
            return candidate
    raise StreamerError(
        f"audio {audio_id!r}: not found next to {timeline_path} or in {settings.data_dir / 'audio'}; "
        "put it there or pass --no-audio"
    )


def cmd_export(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from streamer.core.resolve import resolve
    from streamer.export import AudioSource, ExportOptions, render
    from streamer.export.options import format_for_path, parse_color
    from streamer.frames import LocalFrameStore
    from streamer.rigload import load_rig

    settings = Settings.from_env()
    output = Path(args.output)
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
    if not output.parent.is_dir():
        raise StreamerError(f"{output.parent}: no such folder for the output")
    timeline = _load_timeline_file(args.timeline)
    rig_dir = Path(args.rig) if args.rig else settings.frames_dir
    schedule = resolve(timeline, load_rig(rig_dir))
    audio = None
    if timeline.audio is not None and options.audio:
        path = _find_audio(timeline.audio.id, Path(args.timeline), settings)
        _probe_audio(path)  # before any frame is drawn: an unreadable file is one error line
        audio = AudioSource(path, timeline.audio.offset_ms)
    bars: list[Any] = []  # opened at the first progress report, once the frame count is known

    def progress(done: int, total: int, stage: str) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="frame", desc=stage, disable=args.quiet))
        bar = bars[0]
        bar.total = total
        bar.set_description(stage, refresh=False)
        bar.update(done - bar.n)

    try:
        result = render(
            schedule,
            LocalFrameStore(rig_dir),
            audio,
            options,
            progress,
            output=output,
            max_duration_ms=settings.export_max_s * 1000,
        )
    finally:
        for bar in bars:
            bar.close()
    audio_note = "with audio" if result.has_audio else "no audio"
    print(
        f"wrote {output}: {result.format}, {result.width}x{result.height}, {result.frames} frames "
        f"({result.distinct_frames} distinct) at {options.fps} fps, {result.duration_ms / 1000:.2f} s, {audio_note}, "
        f"in {result.seconds:.1f} s"
    )
    return 0


def _status(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _server_rig(server: str) -> tuple[list[str], dict[str, str]]:
    """The server rig's expressions and its viseme map (checked against the rig by the server)."""
    from streamer.core.rig import DEFAULT_VISEMES
    from streamer.remote import http_json

    rig = http_json("GET", server + "/rig", None, "application/json", None)
    if not isinstance(rig, dict) or not isinstance(rig.get("expressions"), dict):
        raise StreamerError(f"{server}/rig: not a streamer server (no rig expressions)")
    expressions = list(rig["expressions"])
    visemes = rig.get("visemes")
    if isinstance(visemes, dict):
        return expressions, {str(k): str(v) for k, v in visemes.items()}
    # An older server lists no map: the default one, for the expressions this rig has (as rig.py does).
    return expressions, {k: v for k, v in DEFAULT_VISEMES.items() if v in expressions}


def _audio_id_for(path: Path) -> str:
    """The audio id for say's Ogg/Opus file at ``path``: its name, which must say it is Ogg/Opus."""
    from streamer.storage import validate_audio_id

    message = f"--audio-out {path}: the file name must be letters, digits, '_' or '-' and end in .ogg or .opus"
    if path.suffix.lower() not in (".ogg", ".opus"):
        raise StreamerError(message)
    try:
        return validate_audio_id(path.name)
    except StreamerError:
        raise StreamerError(message) from None


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _say_paths(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """``say``'s timeline and audio files (the audio defaults to next to the timeline), checked."""
    timeline_path = Path(args.timeline_out) if args.timeline_out else None
    audio_path = Path(args.audio_out) if args.audio_out else None
    if audio_path is None and timeline_path is not None:
        audio_path = timeline_path.with_suffix(".ogg")
    if audio_path is not None:
        _audio_id_for(audio_path)
    if timeline_path is not None and audio_path is not None and timeline_path.resolve() == audio_path.resolve():
        raise StreamerError(f"--timeline-out {timeline_path}: that is the audio's file too; name the timeline .json")
    for path in (timeline_path, audio_path):
        if path is not None and not path.parent.is_dir():
            raise StreamerError(f"{path.parent}: no such folder for the output")
    return timeline_path, audio_path


def cmd_say(args: argparse.Namespace) -> int:
    import tempfile

    from streamer.rigload import load_rig
    from streamer.speech.say import check_text, say

    if not (args.output or args.timeline_out or args.audio_out or args.play):
        raise StreamerError("say: nothing to do; give -o VIDEO, --timeline-out/--audio-out FILE or --play CHANNEL")
    # Every argument is checked before speaking: a bad one is one error line, with nothing printed first.
    text = check_text(args.text)
    if args.voice is not None and not args.voice.strip():
        raise StreamerError("voice: must not be empty (leave --voice out for the default voice)")
    timeline_path, audio_path = _say_paths(args)
    if args.output:
        from streamer.export.options import FORMATS

        if Path(args.output).suffix.lower().lstrip(".") not in FORMATS:
            raise StreamerError(f"-o {args.output}: say writes a video ending in .mp4, .webm or .mov")
        if not Path(args.output).parent.is_dir():
            raise StreamerError(f"{Path(args.output).parent}: no such folder for the output")
    settings = Settings.from_env()
    server = args.server.rstrip("/")
    if args.play and not args.rig:
        expressions, visemes = _server_rig(server)
    else:
        rig = load_rig(args.rig or settings.frames_dir)
        expressions, visemes = list(rig.config.expressions), dict(rig.config.visemes)
    if args.provider == "elevenlabs":
        how = f"with ElevenLabs (voice {args.voice or settings.elevenlabs_voice}, {settings.elevenlabs_model})"
    else:
        how = f"offline (espeak-ng {args.voice or 'en-us'}, {args.rate_wpm} wpm)"
    _status(f"speaking {_count(len(text), 'character')} {how}", args.quiet)
    said = say(
        text,
        expressions,
        visemes,
        voice=args.voice,
        rate_wpm=args.rate_wpm,
        pitch=args.pitch,
        provider=args.provider,
        emotions=args.emotions or settings.emotions,
        settings=settings,
    )
    faces = " -> ".join(k["expr"] for k in said.emotion) or "neutral"
    words = _count(len(said.speech.words), "word")
    _status(f"spoke {said.speech.duration_ms / 1000:.2f} s: {words}, face {faces}", args.quiet)
    planner = said.plan.provider + (f" (fallback: {said.plan.fallback})" if said.plan.fallback else "")
    _status(f"face planned by {planner}", args.quiet)

    if audio_path is not None:
        audio_id = _audio_id_for(audio_path)
        audio_path.write_bytes(said.audio)
        _status(f"wrote {audio_path} (Ogg/Opus, {len(said.audio)} bytes)", args.quiet)
        if timeline_path is not None:
            if timeline_path.parent.resolve() != audio_path.parent.resolve():
                _status(f"note: the timeline names its audio {audio_id!r}; keep it next to the timeline", args.quiet)
            doc = said.timeline(audio_id, args.lipsync)
            timeline_path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
            _status(f"wrote {timeline_path}", args.quiet)

    if args.output:
        with tempfile.TemporaryDirectory(prefix="streamer-say-") as tmp:
            timeline_file = Path(tmp) / "say.json"
            (Path(tmp) / "say.ogg").write_bytes(said.audio)
            timeline_file.write_text(json.dumps(said.timeline("say.ogg", args.lipsync)), encoding="utf-8")
            argv = ["export", str(timeline_file), "-o", args.output, "--fps", str(args.fps), "--quality", args.quality]
            if args.rig:
                argv += ["--rig", args.rig]
            if args.size:
                argv += ["--size", f"{args.size[0]}x{args.size[1]}"]
            if args.quiet:
                argv.append("--quiet")
            _status(f"rendering {args.output}", args.quiet)
            cmd_export(build_parser().parse_args(argv))

    if args.play:
        from streamer import remote

        audio_id = remote.upload_audio(server, said.audio, "say.ogg", settings.token)
        _status(f"uploaded audio as {audio_id}", args.quiet)
        body = {"timeline": said.timeline(audio_id, args.lipsync)}
        remote.play(server, args.play, body, settings.token)
        _status(f"playing on channel {args.play!r} at {server}", args.quiet)
        _report_audience(remote.viewers(server, args.play), args.play, server, args.quiet)
    return 0


def _report_audience(count: int, channel: str, server: str, quiet: bool) -> None:
    """Say how many viewers ``channel`` has: a typo in a channel name is otherwise silent."""
    from streamer.remote import audience

    line, nobody = audience(count, channel, server)
    if nobody:
        print(f"warning: {line}", file=sys.stderr)
    else:
        _status(line, quiet)


def cmd_play(args: argparse.Namespace) -> int:
    from streamer.remote import play_on_server

    settings = Settings.from_env()
    path, server = Path(args.timeline), args.server.rstrip("/")
    document, timeline = _read_timeline_file(path)
    audio_path = None
    if timeline.audio is not None:
        audio_path = _find_audio(timeline.audio.id, path, settings)
    played = play_on_server(path, document, audio_path, server, args.channel, settings.token)
    with_audio = f" with audio {played.audio_id}" if played.audio_id else ""
    seconds = played.program.get("duration_ms", timeline.duration_ms) / 1000
    _status(f"uploaded {path} as timeline {played.timeline_id!r} ({played.name}){with_audio}", args.quiet)
    _status(f"playing {played.name!r} ({seconds:.1f} s) on channel {args.channel!r} at {server}", args.quiet)
    _report_audience(played.viewers, args.channel, server, args.quiet)
    return 0


def cmd_voices(args: argparse.Namespace) -> int:
    from streamer.speech.voices import voice_table

    wanted = (args.language or "").lower().replace("_", "-")
    rows = []
    for voice in voice_table().voices:
        tags = [tag for _, tag in sorted(voice.languages)]
        if wanted and not any(tag == wanted or tag.startswith(wanted + "-") for tag in tags):
            continue
        rows.append((voice.identifier.rsplit("/", 1)[-1], ", ".join(tags), voice.gender or "-", voice.name))
    if not rows:
        raise StreamerError(f"no espeak-ng voice for language {args.language!r}; `streamer voices` lists them all")
    widths = [max(len(row[i]) for row in [("VOICE", "LANGUAGES", "GENDER", "NAME"), *rows]) for i in range(3)]
    for row in [("VOICE", "LANGUAGES", "GENDER", "NAME"), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])
    return 0


def _read_transcript(args: argparse.Namespace) -> str | None:
    if args.transcript is not None and args.text is not None:
        raise StreamerError("align: give the transcript as a file or as --text, not both")
    if args.text is not None:
        return str(args.text)
    if args.transcript is None:
        return None
    try:
        return Path(args.transcript).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StreamerError(f"{args.transcript}: no such transcript file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StreamerError(f"{args.transcript}: cannot read the transcript ({exc})") from None


def cmd_align(args: argparse.Namespace) -> int:
    import shutil

    from streamer.rigload import load_rig
    from streamer.speech.align import transcript_words
    from streamer.speech.align_providers import align_with_provider, choose_aligner
    from streamer.speech.recording import alignment_timeline, check_transcript
    from streamer.storage import AUDIO_ID

    settings = Settings.from_env()
    source, timeline_path = Path(args.audio), Path(args.output)
    if not source.is_file():
        raise StreamerError(f"{source}: no such audio file")
    transcript = _read_transcript(args)
    if transcript is not None:
        transcript = check_transcript(transcript)
    if not timeline_path.parent.is_dir():
        raise StreamerError(f"{timeline_path.parent}: no such folder for the output")
    probe = _probe_audio(source)
    audio_path = timeline_path.with_suffix("." + probe.ext)
    audio_id = audio_path.name
    if not AUDIO_ID.fullmatch(audio_id):
        raise StreamerError(
            f"-o {timeline_path}: the file name must be letters, digits, '_' or '-' (it names the audio)"
        )
    if probe.duration_ms > settings.max_audio_ms:
        raise StreamerError(
            f"{source}: too long ({probe.duration_ms / 1000:.1f} s; the limit is {settings.max_audio_s} s,"
            " STREAMER_MAX_AUDIO_S)"
        )
    rig = load_rig(args.rig or settings.frames_dir)
    aligner = choose_aligner(args.provider, transcript is not None, settings)
    how = "loudness (no transcript)" if transcript is None else f"offline aligner (espeak-ng {args.voice})"
    if aligner != "offline":
        how = {"elevenlabs": "ElevenLabs forced alignment", "whisper": "Whisper (no transcript)"}[aligner]
    _status(f"aligning {source} ({probe.duration_ms / 1000:.1f} s) with the {how}", args.quiet)
    alignment = align_with_provider(
        source,
        transcript,
        provider=args.provider,
        settings=settings,
        filename=source.name,
        voice=args.voice,
        max_duration_ms=settings.max_audio_ms,
    )
    timeline = alignment_timeline(
        alignment, audio_id, list(rig.config.expressions), dict(rig.config.visemes), transcript, mode=args.lipsync
    )
    if audio_path.resolve() != source.resolve():
        shutil.copyfile(source, audio_path)
        _status(f"wrote {audio_path}", args.quiet)
    timeline_path.write_text(json.dumps(timeline, indent=1) + "\n", encoding="utf-8")
    _status(f"wrote {timeline_path}", args.quiet)
    if alignment.provider == "loudness":
        shapes = len(timeline["tracks"]["speech"])
        print(f"loudness mouth: {shapes} mouth shapes over {alignment.duration_ms / 1000:.1f} s")
    else:
        placed = sum(len(transcript_words(w.text)) for w in alignment.words)  # "I am" may be one timed word
        total = placed + len(alignment.unplaced)
        print(f"placed {placed}/{total} words, mean confidence {alignment.confidence:.2f}")
    if alignment.unplaced:
        print("unplaced: " + " ".join(alignment.unplaced))
    for warning in alignment.warnings:
        print(f"warning: {warning}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from streamer.rigload import load_rig
    from streamer.speech.imports import import_timeline
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
            audio_ms = _probe_audio(audio).duration_ms
        else:
            _status(f"note: {audio} does not exist yet; the timeline names it {audio_id!r}", args.quiet)
        if audio.parent.resolve() != output.parent.resolve():
            _status(f"note: the timeline names its audio {audio_id!r}; keep it next to the timeline", args.quiet)
    rig = load_rig(args.rig or Settings.from_env().frames_dir)
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
        _status(f"warning: {warning}", args.quiet)
    output.write_text(json.dumps(imported.timeline, indent=1) + "\n", encoding="utf-8")
    tracks = imported.timeline["tracks"]
    counts = ", ".join(f"{len(v)} {k}" for k, v in tracks.items() if v)
    _status(f"wrote {output} from {imported.format}: {counts or 'no items'}", args.quiet)
    return 0


def cmd_captions(args: argparse.Namespace) -> int:
    from streamer.rigload import load_rig
    from streamer.speech.exports import export_timeline, format_for_path

    fmt = format_for_path(args.output, args.format or ("srt" if args.output == "-" else None))
    output = Path(args.output)
    if args.output != "-" and not output.parent.is_dir():
        raise StreamerError(f"{output.parent}: no such folder for the output")
    timeline = _load_timeline_file(args.timeline)
    # The map only matters for cues without a phoneme label (the Rhubarb shapes), as for the other commands.
    rig = load_rig(args.rig or Settings.from_env().frames_dir)
    exported = export_timeline(timeline, fmt, rig.config.visemes)
    if args.output == "-":
        sys.stdout.write(exported.text)
    else:
        output.write_text(exported.text, encoding="utf-8")
        _status(f"wrote {output} ({fmt})", args.quiet)
    return 0


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _browse_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _listen(host: str, port: int) -> Any:
    """A socket bound to ``host:port`` for uvicorn, or one readable error (the port is taken, ...)."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart over TIME_WAIT
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StreamerError(
                f"port {port} on {host} is already in use (another `streamer serve`?); choose one with --port"
            ) from None
        raise StreamerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from streamer.rigload import load_rig
    from streamer.server.app import create_app
    from streamer.server.run import uvicorn_config

    changes: dict[str, Any] = {}
    if args.host is not None:
        changes["host"] = args.host
    if args.port is not None:
        changes["port"] = args.port
    if args.frames is not None:
        changes["frames_dir"] = Path(args.frames)
    if args.data is not None:
        changes["data_dir"] = Path(args.data)
    settings = Settings.from_env().replace(**changes)
    logging.getLogger("streamer").setLevel(args.log_level.upper())
    sock = _listen(settings.host, settings.port)  # before anything is printed: a taken port is one error line
    if settings.token is None:
        if settings.host in LOOPBACK_HOSTS:
            log.warning(
                "no STREAMER_TOKEN set: control is open to anyone who can reach this server; binding to %s",
                settings.host,
            )
        else:
            log.warning(
                "NO STREAMER_TOKEN SET and listening on %s: anyone who can reach this server can control "
                "the character and write timelines and audio. Set STREAMER_TOKEN for any public deployment.",
                settings.host,
            )
    # Before serving, so rig problems print as a list (and a bad bucket as one line).
    try:
        rig = _load_s3_rig(settings) if settings.use_s3 else load_rig(settings.frames_dir)
    except BaseException:
        sock.close()
        raise
    base = f"http://{_browse_host(settings.host)}:{settings.port}"
    print(f"preview:  {base}/")
    print(f"OBS:      {base}/client/obs.html?channel=main")
    config = uvicorn_config(
        create_app(settings, rig=rig),
        settings,
        log_level=args.log_level,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips="*" if args.proxy_headers else None,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _load_s3_rig(settings: Settings) -> Rig:
    import asyncio

    from streamer.s3 import check_bucket, load_s3_rig, options_from_settings, s3_client

    async def load() -> Rig:
        options = options_from_settings(settings)
        async with s3_client(options) as client:
            await check_bucket(client, options)
            return await load_s3_rig(client, options)

    return asyncio.run(load())


def cmd_upload(args: argparse.Namespace) -> int:
    import asyncio

    from tqdm import tqdm

    from streamer.s3 import S3Options, check_bucket, s3_client
    from streamer.upload import plan_upload, upload_rig

    settings = Settings.from_env()
    bucket = args.bucket or settings.s3_bucket
    if not bucket:
        raise StreamerError("upload: --bucket (or S3_BUCKET) is required")
    if args.concurrency < 1 or args.concurrency > 256:
        raise StreamerError(f"upload: --concurrency must be in [1, 256], got {args.concurrency}")
    options = S3Options(
        bucket=bucket,
        prefix=settings.s3_prefix if args.prefix is None else args.prefix,
        region=args.region or settings.s3_region,
        endpoint_url=args.endpoint_url or settings.s3_endpoint_url,
        connect_timeout_s=settings.s3_connect_timeout_ms / 1000,
        read_timeout_s=max(settings.s3_read_timeout_ms / 1000, 30.0),  # big frames take a while to send
        max_attempts=settings.s3_max_attempts,
        pool_size=max(2 * args.concurrency, 10),
    )
    items = plan_upload(Path(args.dir))  # raises RigError: nothing is uploaded from a broken rig
    where = f"s3://{bucket}/{options.root}"

    async def run() -> Any:
        async with s3_client(options) as client:
            if not args.dry_run:
                await check_bucket(client, options)
            total = sum(item.size for item in items)
            quiet = args.quiet or args.dry_run  # a dry run transfers nothing: no transfer bar
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"upload to {where}", disable=quiet) as bar:

                def progress(done_bytes: int, done_files: int) -> None:
                    bar.n = done_bytes
                    bar.set_postfix_str(f"{done_files}/{len(items)} files", refresh=False)
                    bar.refresh()

                return await upload_rig(
                    client, options, items, concurrency=args.concurrency, dry_run=args.dry_run, progress=progress
                )

    report = asyncio.run(run())
    print(report.summary(where))
    for key, reason in sorted(report.failed.items()):
        print(f"failed: {key}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def build_parser() -> argparse.ArgumentParser:
    from streamer.settings import EMOTION_PROVIDERS
    from streamer.speech import exports, imports
    from streamer.speech.align_providers import ALIGN_PROVIDERS
    from streamer.speech.say import PROVIDERS
    from streamer.speech.visemes import ANTICIPATION_MS, MAX_ANTICIPATION_MS, MODES

    lipsync_help = "mouth shapes per sound (phoneme, default) or one per word (word, like face_rig)"

    parser = argparse.ArgumentParser(prog="streamer", description="Animate an illustrated character from rig frames.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    rig = sub.add_parser("rig", help="check or draw rigs").add_subparsers(dest="rig_command", required=True)
    check = rig.add_parser("check", help="validate a rig folder and print its coverage")
    check.add_argument("dir", help="rig folder (with rig.json or expressions.json)")
    check.set_defaults(func=cmd_rig_check)
    demo = rig.add_parser("demo", help="draw the demo character rig procedurally")
    demo.add_argument("--out", required=True, help="folder to create")
    demo.add_argument("--size", type=_size, default=(512, 768), help="WIDTHxHEIGHT (default 512x768)")
    demo.add_argument("--force", action="store_true", help="replace the folder if it exists")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_rig_demo)
    from streamer.rigs.commands import add_rig_commands

    add_rig_commands(rig, _size, _int_in)

    sched = sub.add_parser("schedule", help="resolve a timeline and print its frame schedule as JSON")
    sched.add_argument("timeline", help="timeline JSON (v1 or a face_rig keyframe list)")
    sched.add_argument("--rig", help="rig folder (default: STREAMER_FRAMES_DIR or the demo rig)")
    sched.add_argument("--fps", help="also list the frame key of every frame index at this rate (e.g. 24, 30000/1001)")
    sched.add_argument("--compact", action="store_true", help="one-line JSON")
    sched.set_defaults(func=cmd_schedule)

    export = sub.add_parser("export", help="render a timeline to a video file (MP4, WebM with alpha, ProRes MOV)")
    export.add_argument("timeline", help="timeline JSON (v1 or a face_rig keyframe list)")
    export.add_argument("-o", "--output", required=True, help="output file; .mp4, .webm or .mov sets the format")
    export.add_argument("--format", choices=["mp4", "webm", "mov"], help="format (default: from the extension)")
    export.add_argument("--fps", type=int, default=24, help="frames per second, 12-60 (default 24)")
    scaling = export.add_mutually_exclusive_group()
    scaling.add_argument("--size", type=_size, help="WIDTHxHEIGHT box to fit the frames in, keeping their aspect")
    scaling.add_argument("--scale", type=float, help="scale the rig's size (e.g. 0.5)")
    export.add_argument("--rig", help="rig folder (default: STREAMER_FRAMES_DIR or the demo rig)")
    export.add_argument(
        "--quality", choices=["draft", "standard", "high"], default="standard", help="encoder effort (default standard)"
    )
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

    say_p = sub.add_parser(
        "say", help="speak a line (offline or ElevenLabs): to a video, timeline + audio files, or a live channel"
    )
    say_p.add_argument("text", help="what to say (at most 1,000 characters)")
    say_p.add_argument("-o", "--output", help="render a video (.mp4, .webm or .mov) through `streamer export`")
    say_p.add_argument("--timeline-out", help="write the v1 timeline JSON here")
    say_p.add_argument("--audio-out", help="write the Ogg/Opus audio here (default: next to --timeline-out)")
    say_p.add_argument("--play", metavar="CHANNEL", help="play it live on this channel of --server")
    say_p.add_argument(
        "--server",
        default="http://127.0.0.1:8000",
        help="server for --play (default %(default)s; token: STREAMER_TOKEN)",
    )
    say_p.add_argument("--provider", choices=PROVIDERS, default="offline", help="speech engine (default offline)")
    say_p.add_argument(
        "--emotions",
        choices=EMOTION_PROVIDERS,
        help="who plans the face: rules, openai, or auto = openai when OPENAI_API_KEY is set (STREAMER_EMOTIONS)",
    )
    say_p.add_argument(
        "--voice",
        help="offline: a language tag or voice from `streamer voices` (en-GB, fr-fr; default en-us); "
        "ElevenLabs: a voice id (default STREAMER_ELEVENLABS_VOICE)",
    )
    say_p.add_argument("--lipsync", choices=MODES, default=MODES[0], help=lipsync_help)
    say_p.add_argument("--rate-wpm", type=int, default=165, help="words per minute, 80-450 (default 165)")
    say_p.add_argument("--pitch", type=int, default=50, help="voice pitch, 0-100 (default 50)")
    say_p.add_argument(
        "--rig",
        help="rig folder (default: STREAMER_FRAMES_DIR or the demo rig, or the server's with --play)",
    )
    say_p.add_argument("--fps", type=int, default=24, help="video frames per second (default 24)")
    say_p.add_argument("--size", type=_size, help="video WIDTHxHEIGHT box")
    say_p.add_argument(
        "--quality", choices=["draft", "standard", "high"], default="standard", help="encoder effort (default standard)"
    )
    say_p.add_argument("-q", "--quiet", action="store_true", help="no status lines or progress bar")
    say_p.set_defaults(func=cmd_say)

    voices_p = sub.add_parser("voices", help="list the offline (espeak-ng) voices; --voice takes one or a language")
    voices_p.add_argument("language", nargs="?", help="only voices for this language tag (en, en-GB, fr, ...)")
    voices_p.set_defaults(func=cmd_voices)

    play_p = sub.add_parser(
        "play", help="upload a timeline file and its audio to a running server and play it on a channel"
    )
    play_p.add_argument("timeline", help="timeline JSON (e.g. from `say --timeline-out`); its audio next to it")
    play_p.add_argument(
        "--server", default="http://127.0.0.1:8000", help="the server (default %(default)s; token: STREAMER_TOKEN)"
    )
    play_p.add_argument("--channel", default="main", help="channel to play on (default main)")
    play_p.add_argument("-q", "--quiet", action="store_true", help="no status lines (warnings still print)")
    play_p.set_defaults(func=cmd_play)

    align_p = sub.add_parser(
        "align", help="lip-sync a recording: align its transcript offline, or follow its loudness without one"
    )
    align_p.add_argument("audio", help="the recording (WAV, MP3, OGG, Opus, M4A or FLAC; at most STREAMER_MAX_AUDIO_S)")
    align_p.add_argument("transcript", nargs="?", help="a UTF-8 text file of the words spoken (or use --text)")
    align_p.add_argument("--text", help="the words spoken, inline (instead of a TRANSCRIPT file)")
    align_p.add_argument(
        "--provider",
        choices=ALIGN_PROVIDERS,
        default="offline",
        help="aligner: offline (default), elevenlabs (needs the transcript), whisper (without one), "
        "auto (a service when its key is set)",
    )
    align_p.add_argument(
        "-o", "--output", required=True, help="timeline JSON to write; the audio is copied next to it, same name"
    )
    align_p.add_argument(
        "--voice", default="en-us", help="espeak-ng voice of the transcript's language (default en-us)"
    )
    align_p.add_argument("--lipsync", choices=MODES, default=MODES[0], help=lipsync_help)
    align_p.add_argument("--rig", help="rig folder (default: STREAMER_FRAMES_DIR or the demo rig)")
    align_p.add_argument("-q", "--quiet", action="store_true", help="no status lines")
    align_p.set_defaults(func=cmd_align)

    imp = sub.add_parser("import", help="make a timeline from a TextGrid, Rhubarb JSON/TSV or face_rig keyframes")
    imp.add_argument("file", help="Praat .TextGrid (e.g. from MFA), Rhubarb .json/.tsv, or face_rig keyframe .json")
    imp.add_argument("-o", "--output", required=True, help="timeline JSON to write")
    imp.add_argument("--audio", help="the recording; the timeline plays it by its file name (keep them together)")
    imp.add_argument("--format", choices=imports.FORMATS, help="the input's format (default: read from the file)")
    imp.add_argument("--lipsync", choices=MODES, default=MODES[0], help=lipsync_help + " (TextGrid)")
    imp.add_argument(
        "--anticipation-ms",
        type=_int_in(0, MAX_ANTICIPATION_MS),
        default=ANTICIPATION_MS,
        help=f"mouth leads the sound by this much, 0-{MAX_ANTICIPATION_MS} (default {ANTICIPATION_MS})",
    )
    imp.add_argument("--rig", help="rig folder (default: STREAMER_FRAMES_DIR or the demo rig)")
    imp.add_argument("-q", "--quiet", action="store_true", help="no status lines")
    imp.set_defaults(func=cmd_import)

    cap = sub.add_parser("captions", help="export a timeline's captions (SRT, WebVTT) or lip-sync (Rhubarb, TextGrid)")
    cap.add_argument("timeline", help="timeline JSON with a words track (captions) or speech track (lip-sync)")
    cap.add_argument("-o", "--output", required=True, help="out.srt, .vtt, .json (Rhubarb), .tsv, .TextGrid or -")
    cap.add_argument(
        "--format", choices=list(exports.FORMATS), help="the format (default: from the extension; srt for -o -)"
    )
    cap.add_argument("--rig", help="rig folder for the viseme map (default: STREAMER_FRAMES_DIR or the demo rig)")
    cap.add_argument("-q", "--quiet", action="store_true", help="no status lines")
    cap.set_defaults(func=cmd_captions)

    serve = sub.add_parser("serve", help="run the live server (preview, OBS pages, REST and WebSocket)")
    serve.add_argument("--host", help="address to bind (default: STREAMER_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: PORT, STREAMER_PORT or 8000)")
    serve.add_argument("--frames", help="rig folder (default: STREAMER_FRAMES_DIR or the demo rig)")
    serve.add_argument("--data", help="folder for timelines and audio (default: STREAMER_DATA_DIR or ./data)")
    serve.add_argument(
        "--proxy-headers", action="store_true", help="trust X-Forwarded-* headers (only behind a proxy you run)"
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="server log level (default info)",
    )
    serve.set_defaults(func=cmd_serve)

    upload = sub.add_parser("upload", help="upload a rig folder to S3 (skips files already there)")
    upload.add_argument("dir", help="rig folder (must pass `streamer rig check`)")
    upload.add_argument("--bucket", help="bucket name (default: S3_BUCKET)")
    upload.add_argument("--prefix", help="key prefix in the bucket (default: S3_PREFIX or frames/)")
    upload.add_argument("--region", help="AWS region (default: S3_REGION or us-east-1)")
    upload.add_argument("--endpoint-url", help="S3-compatible endpoint (default: S3_ENDPOINT_URL)")
    upload.add_argument("--dry-run", action="store_true", help="list what would be uploaded; write nothing")
    upload.add_argument("--concurrency", type=int, default=8, help="transfers at once (default 8)")
    upload.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    upload.set_defaults(func=cmd_upload)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except RigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except StreamerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # piped into head/less that exited early
        sys.stderr.close()
        return 0
