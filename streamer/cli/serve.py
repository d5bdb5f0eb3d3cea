"""``serve`` (the live server) and ``upload`` (a rig to S3)."""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path
from typing import Any

from streamer.cli.flags import add_flags
from streamer.core.errors import StreamerError
from streamer.core.rig import Rig
from streamer.settings import ConfigError, Settings

log = logging.getLogger("streamer")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _browse_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _listen(host: str, port: int, count: int = 1) -> list[Any]:
    """Sockets bound to ``host:port`` for uvicorn, or one readable error (the port is taken, ...).

    One socket, or with ``count`` > 1 one per worker process, all bound with ``SO_REUSEPORT``
    (:class:`~streamer.server.run.ReusePortSupervisor`). A plain bind first checks that nobody
    listens on the port already: another server with ``SO_REUSEPORT`` would otherwise share it
    without a word.
    """
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def bind(port: int, *, reuse_port: bool) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart over TIME_WAIT
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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

    if count == 1:
        return [bind(port, reuse_port=False)]
    bind(port, reuse_port=False).close()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(bind(sockets[0].getsockname()[1] if sockets else port, reuse_port=True))
    except StreamerError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from streamer.rigload import load_rig
    from streamer.server.app import create_app
    from streamer.server.run import ReusePortSupervisor, uvicorn_config, worker_app

    logging.getLogger("streamer").setLevel(args.log_level.upper())
    # Before anything is printed: a taken port is one error line.
    sockets = _listen(settings.host, settings.port, settings.workers)
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
        if settings.rigs_folder is not None and not settings.rigs_folder.is_dir():
            raise ConfigError(f"STREAMER_RIGS_DIR: {str(settings.rigs_folder)!r} is not a folder")
        rig = _load_s3_rig(settings) if settings.use_s3 else load_rig(settings.frames_dir)
        check_data_bucket(settings)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    base = f"http://{_browse_host(settings.host)}:{settings.port}"
    print(f"preview:  {base}/")
    print(f"OBS:      {base}/client/obs.html?channel=main")
    options: dict[str, Any] = {
        "log_level": args.log_level,
        "proxy_headers": args.proxy_headers,
        "forwarded_allow_ips": "*" if args.proxy_headers else None,
    }
    if settings.workers > 1:
        # uvicorn's worker model, a socket per worker: N processes, each building its own app
        # (and Redis pool) from the factory; the parent restarts a worker that dies.
        factory = functools.partial(worker_app, settings, args.log_level)
        config = uvicorn_config(factory, settings, factory=True, workers=settings.workers, **options)
        ReusePortSupervisor(config, sockets).run()
        return 0
    uvicorn.Server(uvicorn_config(create_app(settings, rig=rig), settings, **options)).run(sockets=sockets)
    return 0


def check_data_bucket(settings: Settings) -> None:
    """With ``STREAMER_DATA_URL``: raise :class:`~streamer.s3.S3SetupError` (one line) if its bucket is unusable."""
    from streamer.services import open_data

    data = open_data(settings)
    if data is not None:
        data.close()


def _load_s3_rig(settings: Settings) -> Rig:
    import asyncio

    from streamer.s3 import check_bucket, load_s3_rig, options_from_settings, s3_client

    async def load() -> Rig:
        options = options_from_settings(settings)
        async with s3_client(options) as client:
            await check_bucket(client, options)
            return await load_s3_rig(client, options)

    return asyncio.run(load())


def cmd_upload(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from tqdm import tqdm

    from streamer.s3 import S3Options, check_bucket, s3_client
    from streamer.upload import plan_upload, upload_rig

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


def add_commands(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the live server (preview, OBS pages, REST and WebSocket)")
    serve_settings = serve.add_argument_group("settings", "each flag overrides its environment variable")
    add_flags(serve_settings)
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
