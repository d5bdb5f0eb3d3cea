"""The ``streamer rig generate`` command: estimate, confirm, generate, tween, report (I/O: terminal, files, HTTPS)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamer.core.errors import StreamerError
from streamer.rigs.generate import (
    REPORT,
    GenerateOptions,
    Generator,
    load_picture,
    plan_images,
    prepare,
    write_report,
)
from streamer.settings import Settings

KEY_HELP = "OPENAI_API_KEY is not set: export OPENAI_API_KEY=sk-... (a key from https://platform.openai.com/api-keys)"


def add_parser(rig: Any, size_type: Any, int_in: Any) -> None:
    gen = rig.add_parser("generate", help="generate a rig from one picture with gpt-image-1 (costs money; asks first)")
    gen.add_argument("--from", dest="picture", required=True, help="the character, neutral, facing the viewer")
    gen.add_argument("--out", required=True, help="rig folder to create (or to resume)")
    gen.add_argument("--model", default="gpt-image-1", help="image model (default gpt-image-1)")
    gen.add_argument("--quality", choices=["low", "medium", "high"], default="high", help="quality (default high)")
    gen.add_argument("--size", type=size_type, default=(1024, 1536), help="rig WIDTHxHEIGHT (default 1024x1536)")
    gen.add_argument("--tweens", choices=["offline", "ai"], default="offline", help="offline or ai (default offline)")
    gen.add_argument("--chroma", default="auto", help="green screen: auto (default), off, or a colour like #00ff00")
    gen.add_argument("--max-workers", type=int_in(1, 32), default=4, help="requests at once (default 4)")
    gen.add_argument("--retries", type=int_in(0, 10), default=4, help="retries on 429/5xx (default 4)")
    gen.add_argument("--drift", type=float, default=0.06, help="drift threshold, 0-1 (default 0.06)")
    gen.add_argument("--max-regenerations", type=int_in(0, 5), default=2, help="remakes per image (default 2)")
    gen.add_argument("--price", type=float, help="US$ per image for the estimate (default: the quality's list price)")
    gen.add_argument("--config", help="rig.json to use (default: face_rig's expressions and poses)")
    gen.add_argument("--timeout-s", type=float, default=300.0, help="per request (default 300)")
    gen.add_argument("--yes", action="store_true", help="do not ask before spending")
    gen.add_argument("--dry-run", action="store_true", help="print the count and cost, make nothing")
    gen.add_argument("--overwrite", action="store_true", help="replace another rig in --out")
    gen.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=cmd_rig_generate)


def _config_doc(args: argparse.Namespace) -> dict[str, Any]:
    if args.config:
        try:
            doc = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StreamerError(f"{args.config}: cannot read the rig config ({exc})") from None
        return dict(doc)
    # face_rig's ten expressions: every image is paid for, and the resolver keeps the face steady
    # through speech without the demo's extra talking faces (layers compose those for free).
    from streamer.demo.spec import FACE_RIG_SPEC

    return {"name": Path(args.picture).stem, **json.loads(json.dumps(FACE_RIG_SPEC))}


def _resume_command(args: argparse.Namespace) -> str:
    return shlex.join(["streamer", "rig", "generate", "--from", args.picture, "--out", args.out, "--yes"])


def _write_manifests(out: Path, config: Any) -> None:
    """The face_rig manifest of each generated sequence whose frames are all there."""
    from streamer.rigs.tween import plan_tweens

    for seq in plan_tweens(config):
        folder = out / "sequences" / seq.name
        if all((folder / f["file"]).is_file() for f in seq.manifest["frames"]):
            (folder / "manifest.json").write_text(json.dumps(seq.manifest, indent=2) + "\n", encoding="utf-8")


def _bar(bar: Any) -> Callable[[int, int], None]:
    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return progress


def cmd_rig_generate(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from streamer.core.rig import parse_rig_config

    if not args.dry_run and not settings.openai_api_key:
        raise StreamerError(KEY_HELP)
    options = GenerateOptions(
        model=args.model,
        quality=args.quality,
        size=args.size,
        max_workers=args.max_workers,
        tweens=args.tweens,
        chroma=args.chroma,
        drift_threshold=args.drift,
        max_regenerations=args.max_regenerations,
        retries=args.retries,
        price=args.price,
    )
    doc = _config_doc(args)
    config = parse_rig_config(doc)
    load_picture(Path(args.picture), options.size, options.chroma)  # a bad picture fails before anything else
    out = Path(args.out)
    stages = plan_images(config, options.tweens)
    missing = sum(1 for s in stages for j in s if not (out / j.key).is_file())
    cost = missing * options.price_per_image
    tweens = "generated (included)" if options.tweens == "ai" else "made offline afterwards (free)"
    print(
        f"{missing} images to make with {options.model} ({options.quality}, {options.api_size}) at about "
        f"${options.price_per_image:.3f} each: about ${cost:.2f} (an estimate; check the current price list). "
        f"In-betweens {tweens}."
    )
    if args.dry_run:
        return 0
    if missing and not args.yes:
        try:
            answer = input("continue? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("cancelled; nothing was spent", file=sys.stderr)
            return 1
    prepare(Path(args.picture), out, doc, options, args.overwrite)
    from openai import OpenAI

    client = OpenAI(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url or "https://api.openai.com/v1",
        timeout=args.timeout_s,
        max_retries=0,  # our own retries: backoff, Retry-After, and no retry on a spent quota
    )
    with client, tqdm(total=0, unit="img", desc="generating", disable=args.quiet) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        generator = Generator(
            client, out, config, options, progress, lambda line: bar.write(f"failed: {line}", sys.stderr)
        )
        report = generator.run(stages)
    write_report(out, report)
    for key, info in sorted(report.drift.items()):
        if info["flagged"]:
            print(
                f"drift: {key}: {info['drift']} > {options.drift_threshold} after {info['tries']} tries; "
                "kept, look at it"
            )
    print(f"made {len(report.made)} images, kept {len(report.kept)}; report: {out / REPORT}")
    if report.quota:
        print(f"error: {report.quota}; what was made is kept. Resume with: {_resume_command(args)}", file=sys.stderr)
        return 1
    if report.failed:
        print(
            f"error: {len(report.failed)} images failed ({len(report.skipped)} more wait on them); "
            f"what was made is kept. Resume with: {_resume_command(args)}",
            file=sys.stderr,
        )
        return 1
    if options.tweens == "ai":
        _write_manifests(out, config)
    if options.tweens == "offline":
        from streamer.rigs.tween import tween_rig

        with tqdm(total=0, unit="seq", desc="in-betweens", disable=args.quiet) as bar:
            tweened = tween_rig(out, progress=_bar(bar))
        if tweened.failed:
            raise StreamerError(f"in-betweens failed: {next(iter(tweened.failed.values()))}")
    print(f"wrote rig to {out}; check it with: streamer rig check {out}")
    return 0
