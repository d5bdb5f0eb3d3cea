"""Frames, rigs and frame URLs on S3 through one aiobotocore client (I/O).

The client is created once per process by :func:`s3_client` (the app lifespan and the CLI
hold it with ``async with``). botocore's and aiohttp's errors are translated here, once:
a missing object becomes :class:`NotFound`; throttling, outages, timeouts, refused or cut
connections become :class:`StoreUnavailable`; a bad bucket or bad credentials at start-up
become :class:`S3SetupError` with one readable line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from streamer.core.errors import NotFound, RigError, StoreUnavailable, StreamerError
from streamer.core.keys import validate_key
from streamer.core.rig import Rig, RigListing, build_rig, parse_rig_config
from streamer.frames import FrameData, etag_of
from streamer.rigload import CONFIG_NAMES

log = logging.getLogger(__name__)

NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
DENIED_CODES = frozenset(
    {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)
# What a body read can raise when the connection drops or stalls mid-body.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (BotoCoreError, aiohttp.ClientError, asyncio.TimeoutError, OSError)


class S3SetupError(StreamerError):
    """The bucket cannot be used at start-up: missing, access denied, no credentials, unreachable."""


@dataclass(frozen=True)
class S3Options:
    """How to reach the bucket, and how long to wait for it."""

    bucket: str
    prefix: str = "frames/"
    region: str = "us-east-1"
    endpoint_url: str | None = None
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    max_attempts: int = 3
    pool_size: int = 32

    @property
    def root(self) -> str:
        """The prefix as a folder: ``""`` or ending in ``/``."""
        return normalize_prefix(self.prefix)

    def object_key(self, key: str) -> str:
        return self.root + key

    @property
    def deadline_s(self) -> float:
        """An upper bound for one GET with its retries (and a refetch of a cut body)."""
        return 2 * self.max_attempts * (self.connect_timeout_s + self.read_timeout_s) + 1.0


def normalize_prefix(prefix: str) -> str:
    """``frames`` -> ``frames/``; ``/`` or empty -> ``""`` (the bucket root)."""
    prefix = prefix.strip().strip("/")
    return prefix + "/" if prefix else ""


def options_from_settings(settings: Any) -> S3Options:
    """:class:`S3Options` from :class:`~streamer.settings.Settings`."""
    return S3Options(
        bucket=settings.s3_bucket,
        prefix=settings.s3_prefix,
        region=settings.s3_region,
        endpoint_url=settings.s3_endpoint_url,
        connect_timeout_s=settings.s3_connect_timeout_ms / 1000,
        read_timeout_s=settings.s3_read_timeout_ms / 1000,
        max_attempts=settings.s3_max_attempts,
        pool_size=max(settings.store_concurrency * 2, 10),
    )


@contextlib.asynccontextmanager
async def s3_client(options: S3Options) -> AsyncIterator[Any]:
    """The process's S3 client: explicit timeouts, standard retries, a pool fit for prefetch."""
    config = AioConfig(
        connect_timeout=options.connect_timeout_s,
        read_timeout=options.read_timeout_s,
        # total_max_attempts counts the first try (botocore's "max_attempts" does not).
        retries={"mode": "standard", "total_max_attempts": options.max_attempts},
        max_pool_connections=options.pool_size,
        # SigV4 everywhere (presigned URLs too: botocore would otherwise presign with SigV2).
        signature_version="s3v4",
        # Path-style for custom endpoints (MinIO, moto, ...), where virtual hosts rarely resolve.
        s3={"addressing_style": "path"} if options.endpoint_url else None,
    )
    session = get_session()
    async with session.create_client(
        "s3", region_name=options.region, endpoint_url=options.endpoint_url, config=config
    ) as client:
        yield client


def error_code(exc: ClientError) -> tuple[str, int | None]:
    """S3's error code and HTTP status from a ``ClientError``."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code, status if isinstance(status, int) else None


def translate(exc: BaseException, bucket: str, what: str) -> StreamerError:
    """Our error for a botocore or transport error met while getting ``what`` from ``bucket``."""
    if isinstance(exc, ClientError):
        code, status = error_code(exc)
        if code in NOT_FOUND_CODES:
            return NotFound(f"no frame {what!r} in s3://{bucket}")
        if code == "NoSuchBucket":
            return StoreUnavailable(f"s3: bucket {bucket!r} does not exist")
        if code in DENIED_CODES or status == 403:
            return StoreUnavailable(f"s3: access denied to {what!r} in bucket {bucket!r} ({code or status})")
        return StoreUnavailable(f"s3: {code or status} while getting {what!r}")
    if isinstance(exc, NoCredentialsError):
        return StoreUnavailable("s3: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    if isinstance(exc, asyncio.TimeoutError):
        return StoreUnavailable(f"s3: timed out while getting {what!r}")
    return StoreUnavailable(f"s3: {type(exc).__name__} while getting {what!r}: {exc}")


class CutBody(Exception):
    """A body shorter than its Content-Length (internal: refetched, never cached)."""


class S3FrameStore:
    """Frames from ``s3://bucket/prefix``; keys are validated before any request is made."""

    def __init__(self, client: Any, options: S3Options, body_attempts: int = 2) -> None:
        self.client, self.options = client, options
        self.body_attempts = body_attempts

    def __repr__(self) -> str:
        return f"S3FrameStore('s3://{self.options.bucket}/{self.options.root}')"

    async def get(self, key: str) -> FrameData:
        """The frame under ``key``; raises InvalidKey, NotFound or StoreUnavailable."""
        validate_key(key)
        try:
            async with asyncio.timeout(self.options.deadline_s):
                data = await self.read(self.options.object_key(key))
        except StreamerError:
            raise
        except (ClientError, *TRANSPORT_ERRORS) as exc:
            raise translate(exc, self.options.bucket, key) from exc
        return FrameData(data, etag_of(data))

    async def read(self, object_key: str) -> bytes:
        """The whole body of ``object_key``, checked against its length; a cut body is fetched again."""
        for attempt in range(1, self.body_attempts + 1):
            try:
                return await self._read_once(object_key)
            except CutBody as exc:
                if attempt == self.body_attempts:
                    raise StoreUnavailable(f"s3: {exc}") from None
                log.warning("s3: %s; fetching it again", exc)
        raise AssertionError("unreachable")

    async def _read_once(self, object_key: str) -> bytes:
        # Errors before the body are botocore's to retry; errors in the body are ours (CutBody).
        response = await self.client.get_object(Bucket=self.options.bucket, Key=object_key)
        expected = response.get("ContentLength")
        try:
            async with response["Body"] as body:
                data: bytes = await body.read()
        except TRANSPORT_ERRORS as exc:
            raise CutBody(f"body of {object_key!r} cut short ({type(exc).__name__})") from exc
        if expected is not None and len(data) != expected:
            raise CutBody(f"body of {object_key!r} is {len(data)} of {expected} bytes")
        return data


async def check_bucket(client: Any, options: S3Options, setting: str = "S3_BUCKET") -> None:
    """Fail fast, with one readable line, when the bucket cannot be read (``setting`` names where it was set)."""
    where = f"s3://{options.bucket}" + (f" at {options.endpoint_url}" if options.endpoint_url else "")
    try:
        async with asyncio.timeout(options.deadline_s):
            await client.head_bucket(Bucket=options.bucket)
    except ClientError as exc:
        code, status = error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound") or status == 404:
            raise S3SetupError(f"s3: bucket {options.bucket!r} does not exist ({where}); check {setting}") from None
        if code in DENIED_CODES or status in (400, 403):
            raise S3SetupError(
                f"s3: access to {where} denied ({code or status}); check AWS_ACCESS_KEY_ID, "
                "AWS_SECRET_ACCESS_KEY and the bucket policy"
            ) from None
        raise S3SetupError(f"s3: cannot use {where}: {code or status}") from None
    except NoCredentialsError:
        raise S3SetupError("s3: no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)") from None
    except TRANSPORT_ERRORS as exc:
        raise S3SetupError(f"s3: cannot reach {where}: {type(exc).__name__}: {exc}") from None


async def list_objects(client: Any, options: S3Options) -> dict[str, tuple[int, str]]:
    """Every object below the prefix: relative key -> (size, ETag without quotes)."""
    found: dict[str, tuple[int, str]] = {}
    root = options.root
    paginator = client.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=options.bucket, Prefix=root):
        for item in page.get("Contents", []):
            found[item["Key"][len(root) :]] = (int(item["Size"]), str(item.get("ETag", "")).strip('"'))
    return found


async def list_folders(client: Any, options: S3Options) -> list[str]:
    """The names of the "folders" directly below the prefix (common prefixes up to the next ``/``)."""
    root, names = options.root, []
    paginator = client.get_paginator("list_objects_v2")
    try:
        async for page in paginator.paginate(Bucket=options.bucket, Prefix=root, Delimiter="/"):
            names += [item["Prefix"][len(root) :].rstrip("/") for item in page.get("CommonPrefixes", [])]
    except (ClientError, *TRANSPORT_ERRORS) as exc:
        raise translate(exc, options.bucket, f"s3://{options.bucket}/{root}") from exc
    return sorted(names)


async def load_s3_rig(client: Any, options: S3Options) -> Rig:
    """Load and validate the rig stored under the prefix, as :func:`~streamer.rigload.load_rig` does a folder."""
    store = S3FrameStore(client, options)
    where = f"s3://{options.bucket}/{options.root}"
    try:
        objects = await list_objects(client, options)
        config_name = next((name for name in CONFIG_NAMES if name in objects), None)
        if config_name is None:
            raise RigError([f"{where}: no rig.json or expressions.json (upload one with `streamer upload`)"])
        config_raw = await store.read(options.object_key(config_name))
        manifest_keys = [
            k for k in objects if k.startswith("sequences/") and k.endswith("/manifest.json") and k.count("/") == 2
        ]
        slots = asyncio.Semaphore(16)

        async def manifest(key: str) -> tuple[str, bytes]:
            async with slots:
                return key, await store.read(options.object_key(key))

        raw_manifests = await asyncio.gather(*(manifest(k) for k in manifest_keys))
    except (ClientError, *TRANSPORT_ERRORS) as exc:
        raise translate(exc, options.bucket, where) from exc
    try:
        config = parse_rig_config(json.loads(config_raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RigError([f"{where}{config_name}: cannot read JSON: {exc}"]) from exc
    files: dict[str, int] = {}
    unreadable: dict[str, str] = {}
    manifests: dict[str, object] = {}
    for key, raw in raw_manifests:
        try:
            manifests[key.split("/")[1]] = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            unreadable[key] = f"invalid JSON ({exc})"
    for key, (size, _) in objects.items():
        name = key.rsplit("/", 1)[-1]
        if not key.startswith(("endpoints/", "sequences/")) or not name.lower().endswith(".png"):
            continue
        if name.startswith("."):
            continue
        if size == 0:
            unreadable[key] = "empty file"
        else:
            files[key] = size
    rig = build_rig(config, RigListing(files=files, manifests=manifests, unreadable=unreadable))
    log.info("loaded rig %r from %s: %d frames", config.name, where, len(files))
    return rig


# -- frame URLs ------------------------------------------------------------------------------


def public_base_url(base_url: str, options_prefix: str) -> str:
    """The URL prefix of frames in public/CDN mode: ``S3_BASE_URL`` + ``S3_PREFIX``."""
    return base_url.rstrip("/") + "/" + normalize_prefix(options_prefix)


class PresignedUrls:
    """Presigned GET URLs, signed once per key and reused until near expiry.

    :meth:`url` is synchronous (the channel core calls it while planning); :meth:`refresh`
    signs every key of the rig ahead of time and re-signs those within a quarter of their
    lifetime of expiring. The app runs :meth:`run` in the background.
    """

    def __init__(self, client: Any, options: S3Options, keys: list[str], expires_s: int) -> None:
        self.client, self.options = client, options
        self.keys = keys
        self.expires_s = expires_s
        self._signed: dict[str, tuple[str, float]] = {}
        self.signatures = 0

    async def sign(self, key: str) -> str:
        url: str = await self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.options.bucket, "Key": self.options.object_key(key)},
            ExpiresIn=self.expires_s,
        )
        self._signed[key] = (url, time.monotonic() + self.expires_s)
        self.signatures += 1
        return url

    async def refresh(self) -> int:
        """Sign the keys never signed or near expiry; returns how many were signed."""
        renew_at = time.monotonic() + self.expires_s / 4
        stale = [k for k in self.keys if self._signed.get(k, ("", 0.0))[1] <= renew_at]
        for i, key in enumerate(stale):
            await self.sign(key)
            if i % 256 == 255:
                await asyncio.sleep(0)  # signing is CPU work: let the loop breathe
        return len(stale)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.expires_s / 8)
            signed = await self.refresh()
            log.debug("presigned %d frame URLs", signed)

    def url(self, key: str) -> str:
        """The current presigned URL for ``key`` (``/frames/key`` for a key outside the rig)."""
        found = self._signed.get(key)
        if found is None:
            return "/frames/" + key
        return found[0]
