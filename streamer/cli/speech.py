"""Speech: ``say``, ``voices``, ``play`` and ``align``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from streamer.cli.common import (
    LIPSYNC_HELP,
    add_rig_argument,
    count,
    find_audio,
    probe_audio,
    read_timeline_file,
    size_type,
    status,
)
from streamer.core.errors import StreamerError
from streamer.export.formats import FORMATS, QUALITIES, extensions_text
from streamer.settings import Settings


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


def cmd_say(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    from streamer.cli.media import export_file
    from streamer.export import ExportOptions
    from streamer.export.options import format_for_path
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
        if Path(args.output).suffix.lower().lstrip(".") not in FORMATS:
            raise StreamerError(f"-o {args.output}: say writes a video ending in {extensions_text()}")
        if not Path(args.output).parent.is_dir():
            raise StreamerError(f"{Path(args.output).parent}: no such folder for the output")
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
    status(f"speaking {count(len(text), 'character')} {how}", args.quiet)
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
    words = count(len(said.speech.words), "word")
    status(f"spoke {said.speech.duration_ms / 1000:.2f} s: {words}, face {faces}", args.quiet)
    planner = said.plan.provider + (f" (fallback: {said.plan.fallback})" if said.plan.fallback else "")
    status(f"face planned by {planner}", args.quiet)

    if audio_path is not None:
        audio_id = _audio_id_for(audio_path)
        audio_path.write_bytes(said.audio)
        status(f"wrote {audio_path} (Ogg/Opus, {len(said.audio)} bytes)", args.quiet)
        if timeline_path is not None:
            if timeline_path.parent.resolve() != audio_path.parent.resolve():
                status(f"note: the timeline names its audio {audio_id!r}; keep it next to the timeline", args.quiet)
            doc = said.timeline(audio_id, args.lipsync)
            timeline_path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
            status(f"wrote {timeline_path}", args.quiet)

    if args.output:
        with tempfile.TemporaryDirectory(prefix="streamer-say-") as tmp:
            timeline_file = Path(tmp) / "say.json"
            (Path(tmp) / "say.ogg").write_bytes(said.audio)
            timeline_file.write_text(json.dumps(said.timeline("say.ogg", args.lipsync)), encoding="utf-8")
            options = ExportOptions(
                format=format_for_path(args.output, None), fps=args.fps, size=args.size, quality=args.quality
            )
            status(f"rendering {args.output}", args.quiet)
            rig_dir = Path(args.rig) if args.rig else None
            export_file(timeline_file, Path(args.output), options, rig_dir, settings, quiet=args.quiet)

    if args.play:
        from streamer import remote

        audio_id = remote.upload_audio(server, said.audio, "say.ogg", settings.token)
        status(f"uploaded audio as {audio_id}", args.quiet)
        body = {"timeline": said.timeline(audio_id, args.lipsync)}
        remote.play(server, args.play, body, settings.token)
        status(f"playing on channel {args.play!r} at {server}", args.quiet)
        _report_audience(remote.viewers(server, args.play), args.play, server, args.quiet)
    return 0


def _report_audience(count: int, channel: str, server: str, quiet: bool) -> None:
    """Say how many viewers ``channel`` has: a typo in a channel name is otherwise silent."""
    from streamer.remote import audience

    line, nobody = audience(count, channel, server)
    if nobody:
        print(f"warning: {line}", file=sys.stderr)
    else:
        status(line, quiet)


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from streamer.chat import chat_on_channel, read_persona

    persona = read_persona(args.persona)
    model = args.model or settings.openai_model
    return asyncio.run(chat_on_channel(args.server.rstrip("/"), args.channel, settings, model, persona, args.voice))


def cmd_play(args: argparse.Namespace, settings: Settings) -> int:
    from streamer.remote import play_on_server

    path, server = Path(args.timeline), args.server.rstrip("/")
    document, timeline = read_timeline_file(path)
    audio_path = None
    if timeline.audio is not None:
        audio_path = find_audio(timeline.audio.id, path, settings)
    played = play_on_server(path, document, audio_path, server, args.channel, settings.token)
    with_audio = f" with audio {played.audio_id}" if played.audio_id else ""
    seconds = played.program.get("duration_ms", timeline.duration_ms) / 1000
    status(f"uploaded {path} as timeline {played.timeline_id!r} ({played.name}){with_audio}", args.quiet)
    status(f"playing {played.name!r} ({seconds:.1f} s) on channel {args.channel!r} at {server}", args.quiet)
    _report_audience(played.viewers, args.channel, server, args.quiet)
    return 0


def cmd_voices(args: argparse.Namespace, settings: Settings) -> int:
    from streamer.speech.synthesis.voices import voice_table

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


def cmd_align(args: argparse.Namespace, settings: Settings) -> int:
    import shutil

    from streamer.rigload import load_rig
    from streamer.speech.alignment.align import transcript_words
    from streamer.speech.alignment.providers import ALIGNERS, align_with_provider, choose_aligner
    from streamer.speech.alignment.recording import alignment_timeline, check_transcript
    from streamer.storage import AUDIO_ID

    source, timeline_path = Path(args.audio), Path(args.output)
    if not source.is_file():
        raise StreamerError(f"{source}: no such audio file")
    transcript = _read_transcript(args)
    if transcript is not None:
        transcript = check_transcript(transcript)
    if not timeline_path.parent.is_dir():
        raise StreamerError(f"{timeline_path.parent}: no such folder for the output")
    probe = probe_audio(source)
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
        how = ALIGNERS[aligner].label
    status(f"aligning {source} ({probe.duration_ms / 1000:.1f} s) with the {how}", args.quiet)
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
        status(f"wrote {audio_path}", args.quiet)
    timeline_path.write_text(json.dumps(timeline, indent=1) + "\n", encoding="utf-8")
    status(f"wrote {timeline_path}", args.quiet)
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


def add_commands(sub: Any) -> None:
    from streamer.settings import EMOTION_PROVIDERS
    from streamer.speech.alignment.providers import ALIGN_PROVIDERS
    from streamer.speech.lipsync.visemes import MODES
    from streamer.speech.synthesis.providers import SPEECH_PROVIDERS

    say_p = sub.add_parser(
        "say", help="speak a line (offline or ElevenLabs): to a video, timeline + audio files, or a live channel"
    )
    say_p.add_argument("text", help="what to say (at most 1,000 characters)")
    say_p.add_argument("-o", "--output", help=f"render a video ({extensions_text()}) through `streamer export`")
    say_p.add_argument("--timeline-out", help="write the v1 timeline JSON here")
    say_p.add_argument("--audio-out", help="write the Ogg/Opus audio here (default: next to --timeline-out)")
    say_p.add_argument("--play", metavar="CHANNEL", help="play it live on this channel of --server")
    say_p.add_argument(
        "--server",
        default="http://127.0.0.1:8000",
        help="server for --play (default %(default)s; token: STREAMER_TOKEN)",
    )
    say_p.add_argument(
        "--provider", choices=list(SPEECH_PROVIDERS), default="offline", help="speech engine (default offline)"
    )
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
    say_p.add_argument("--lipsync", choices=MODES, default=MODES[0], help=LIPSYNC_HELP)
    say_p.add_argument("--rate-wpm", type=int, default=165, help="words per minute, 80-450 (default 165)")
    say_p.add_argument("--pitch", type=int, default=50, help="voice pitch, 0-100 (default 50)")
    say_p.add_argument(
        "--rig",
        help="rig folder (default: STREAMER_FRAMES_DIR or the demo rig, or the server's with --play)",
    )
    say_p.add_argument("--fps", type=int, default=24, help="video frames per second (default 24)")
    say_p.add_argument("--size", type=size_type, help="video WIDTHxHEIGHT box")
    say_p.add_argument("--quality", choices=QUALITIES, default="standard", help="encoder effort (default standard)")
    say_p.add_argument("-q", "--quiet", action="store_true", help="no status lines or progress bar")
    say_p.set_defaults(func=cmd_say)

    voices_p = sub.add_parser("voices", help="list the offline (espeak-ng) voices; --voice takes one or a language")
    voices_p.add_argument("language", nargs="?", help="only voices for this language tag (en, en-GB, fr, ...)")
    voices_p.set_defaults(func=cmd_voices)

    chat_p = sub.add_parser(
        "chat", help="talk with an OpenAI model; its answers are said on a channel as they are written"
    )
    chat_p.add_argument("--channel", default="main", help="channel to speak on (default main)")
    chat_p.add_argument(
        "--server", default="http://127.0.0.1:8000", help="the server (default %(default)s; token: STREAMER_TOKEN)"
    )
    chat_p.add_argument("--model", help="chat model (default STREAMER_OPENAI_MODEL)")
    chat_p.add_argument("--persona", help="a text file with the system prompt (default: a short friendly persona)")
    chat_p.add_argument("--voice", help="offline voice or language tag for the answers (default en-us)")
    chat_p.set_defaults(func=cmd_chat)

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
    align_p.add_argument("--lipsync", choices=MODES, default=MODES[0], help=LIPSYNC_HELP)
    add_rig_argument(align_p)
    align_p.add_argument("-q", "--quiet", action="store_true", help="no status lines")
    align_p.set_defaults(func=cmd_align)
