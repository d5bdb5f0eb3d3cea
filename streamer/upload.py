"""Upload a rig folder to ``s3://BUCKET/PREFIX`` (I/O): the successor of face_rig's upload_to_s3.py.

The rig must pass :func:`~streamer.rigload.load_rig` first. Objects already in the bucket with
the same MD5 (their ETag, for single-part uploads) are skipped, so a second run uploads
nothing. Progress goes to an injected sink; the CLI draws it with tqdm.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from streamer.frames import FRAME_CACHE_CONTROL
from streamer.rigload import CONFIG_NAMES, load_rig
from streamer.s3 import TRANSPORT_ERRORS, S3Options, list_objects

log = logging.getLogger(__name__)

# The config and manifests may change when a rig is re-uploaded: let CDNs revalidate them.
CONFIG_CACHE_CONTROL = "public, max-age=60"
CONTENT_TYPES = {".png": "image/png", ".json": "application/json"}

# progress(bytes_done, files_done) is called after each file is uploaded or skipped.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class UploadItem:
    """One file of the rig: its key below the prefix, where it is, and how to store it."""

    key: str
    path: Path
    size: int
    md5: str
    content_type: str
    cache_control: str


@dataclass
class UploadReport:
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    bytes_uploaded: int = 0
    bytes_skipped: int = 0
    dry_run: bool = False

    def summary(self, where: str) -> str:
        verb = "would upload" if self.dry_run else "uploaded"
        mb = self.bytes_uploaded / 1e6
        line = f"{verb} {len(self.uploaded)} files ({mb:.1f} MB) to {where}; {len(self.skipped)} unchanged, skipped"
        if self.failed:
            line += f"; {len(self.failed)} FAILED"
        return line


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def plan_upload(root: Path) -> list[UploadItem]:
    """Every file of the rig in ``root`` (config, manifests, frames) with its MD5.

    Raises :class:`RigError` when the rig fails validation (nothing is uploaded then).
    """
    rig = load_rig(root)
    keys = [name for name in CONFIG_NAMES if (root / name).is_file()]
    keys += sorted(rig.file_sizes)
    keys += sorted(p.relative_to(root).as_posix() for p in (root / "sequences").glob("*/manifest.json") if p.is_file())
    items = []
    for key in keys:
        path = root / key
        suffix = path.suffix.lower()
        items.append(
            UploadItem(
                key=key,
                path=path,
                size=path.stat().st_size,
                md5=_md5(path),
                content_type=CONTENT_TYPES.get(suffix, "application/octet-stream"),
                cache_control=FRAME_CACHE_CONTROL if suffix == ".png" else CONFIG_CACHE_CONTROL,
            )
        )
    return items


async def upload_rig(
    client: Any,
    options: S3Options,
    items: list[UploadItem],
    *,
    concurrency: int = 8,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> UploadReport:
    """Upload ``items`` below the prefix, ``concurrency`` at a time, skipping unchanged objects."""
    report = UploadReport(dry_run=dry_run)
    try:
        existing = await list_objects(client, options)
    except (ClientError, *TRANSPORT_ERRORS) as exc:
        if not dry_run:
            raise
        log.warning("cannot list s3://%s (%s): assuming it is empty", options.bucket, _reason(exc))
        existing = {}
    slots = asyncio.Semaphore(concurrency)
    done_bytes = done_files = 0

    def advance(item: UploadItem) -> None:
        nonlocal done_bytes, done_files
        done_bytes += item.size
        done_files += 1
        if progress is not None:
            progress(done_bytes, done_files)

    async def one(item: UploadItem) -> None:
        found = existing.get(item.key)
        if found is not None and found == (item.size, item.md5):
            report.skipped.append(item.key)
            report.bytes_skipped += item.size
            advance(item)
            return
        if dry_run:
            report.uploaded.append(item.key)
            report.bytes_uploaded += item.size
            advance(item)
            return
        async with slots:
            try:
                body = await asyncio.to_thread(item.path.read_bytes)
                await client.put_object(
                    Bucket=options.bucket,
                    Key=options.object_key(item.key),
                    Body=body,
                    ContentType=item.content_type,
                    CacheControl=item.cache_control,
                    ContentMD5=base64.b64encode(bytes.fromhex(item.md5)).decode(),
                )
            except (ClientError, *TRANSPORT_ERRORS) as exc:
                report.failed[item.key] = _reason(exc)
                log.warning("upload of %s failed: %s", item.key, report.failed[item.key])
            else:
                report.uploaded.append(item.key)
                report.bytes_uploaded += item.size
        advance(item)

    await asyncio.gather(*(one(item) for item in items))
    return report


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
