"""``worker``: render the export jobs that servers put on the Redis queue (``REDIS_URL``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from streamer.cli.flags import add_flags
from streamer.core.errors import StreamerError
from streamer.core.rig import Rig
from streamer.settings import ConfigError, Settings

log = logging.getLogger("streamer")


def build_worker(settings: Settings, rig: Rig | None = None) -> Any:
    """The arq worker for ``settings`` (``run()`` it): frames as the server would read them, jobs from Redis."""
    from arq import Worker
    from arq.worker import func

    from streamer.export.files import S3ExportFiles
    from streamer.export.queue import QUEUE, RENDER_FUNCTION, redis_settings
    from streamer.export.queue_worker import ARQ_MAX_TRIES, ExportWorker, render_export
    from streamer.server.framesource import FrameSource
    from streamer.services import open_data, s3_audio_store

    assert settings.redis_url is not None

    async def startup(ctx: dict[str, Any]) -> None:
        # A worker serves no viewer: it needs the frames, not URLs for them.
        frames = ctx["frames"] = await FrameSource(settings.replace(url_mode="server"), rig).open()
        audio, files = None, None
        data = ctx["data"] = await asyncio.to_thread(open_data, settings)
        if data is not None:  # STREAMER_DATA_URL: audio fetched from S3, finished files put there
            audio = s3_audio_store(data, settings)
            files = S3ExportFiles(data, settings.presign_expires_s)
        ctx["exports"] = worker = ExportWorker(settings, ctx["redis"], frames, audio, files)
        await worker.start()

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "exports" in ctx:
            await ctx["exports"].close()
        if ctx.get("data") is not None:
            await asyncio.to_thread(ctx["data"].close)
        if "frames" in ctx:
            await ctx["frames"].close()

    return Worker(
        # arq's own timeout is a backstop: a job stops itself at STREAMER_EXPORT_TIMEOUT_S.
        functions=[
            func(render_export, name=RENDER_FUNCTION, max_tries=ARQ_MAX_TRIES, timeout=settings.export_timeout_s + 60)
        ],
        queue_name=QUEUE,
        redis_settings=redis_settings(settings.redis_url),
        max_jobs=settings.export_workers,
        on_startup=startup,
        on_shutdown=shutdown,
        keep_result=60,
        poll_delay=0.2,
    )


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from redis.exceptions import RedisError

    from streamer.cli.serve import check_data_bucket
    from streamer.rigload import load_rig

    # As `serve` does: rig problems print as one list before anything starts.
    rig = None if settings.use_s3 else load_rig(settings.frames_dir)
    if settings.redis_url is None:
        raise ConfigError(
            "REDIS_URL is not set: a worker renders the exports servers queue in Redis "
            "(REDIS_URL=redis://localhost:6379 streamer worker); without Redis the server renders exports itself"
        )
    check_data_bucket(settings)  # a bad STREAMER_DATA_URL is one line, before the worker starts
    logging.getLogger("streamer").setLevel(args.log_level.upper())
    logging.getLogger("arq").setLevel(args.log_level.upper())
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    where = settings.data_dir / "exports" if settings.data_url is None else f"{settings.data_url} (exports/)"
    print(f"worker: rendering exports into {where} (Ctrl-C stops)", flush=True)
    try:
        build_worker(settings, rig).run()
    except (RedisError, OSError) as exc:
        raise StreamerError(f"cannot reach Redis (REDIS_URL): {exc}") from None
    return 0


def add_commands(sub: Any) -> None:
    worker = sub.add_parser("worker", help="render queued video exports (needs REDIS_URL; run as many as you like)")
    worker_settings = worker.add_argument_group("settings", "each flag overrides its environment variable")
    add_flags(worker_settings)
    worker.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="log level (default info)"
    )
    worker.set_defaults(func=cmd_worker)
