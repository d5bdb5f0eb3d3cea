"""Stored data on S3 (``STREAMER_DATA_URL``): blocking object calls for the stores, made on a private loop (I/O).

The timeline and audio stores are synchronous (handlers call them through ``asyncio.to_thread``,
exports call them from render threads). :class:`S3Data` gives them a blocking face over an
aiobotocore client that lives on its own event loop in a daemon thread, so a call works the
same from any thread, never waits on the server's loop, and cannot deadlock it. Errors are
translated once, here: a missing object is ``None``/:class:`NotFound`, a failed ``If-Match`` or
``If-None-Match`` is :class:`PreconditionFailed`, anything else :class:`StoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from streamer.core.errors import NotFound, StoreUnavailable
from streamer.s3 import TRANSPORT_ERRORS, S3Options, check_bucket, error_code, options_from_settings, s3_client

log = logging.getLogger("streamer.storage")

T = TypeVar("T")


class PreconditionFailed(Exception):
    """S3 refused a conditional write (412): the object changed, or exists, since it was looked at."""


@dataclass(frozen=True)
class ObjectInfo:
    """An object below the data prefix: key relative to the prefix, S3 ETag, size, last change."""

    key: str
    etag: str
    size: int
    modified: datetime


class S3Data:
    """``s3://bucket/prefix`` as blocking calls, for the stores; :meth:`open` checks the bucket first."""

    def __init__(self, options: S3Options) -> None:
        self.options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="s3-data", daemon=True)
        self._client: Any = None
        self._exit: contextlib.AsyncExitStack | None = None

    def __repr__(self) -> str:
        return f"S3Data('s3://{self.options.bucket}/{self.options.root}')"

    @property
    def url(self) -> str:
        return f"s3://{self.options.bucket}/{self.options.root}"

    def open(self) -> S3Data:
        """Start the client and check the bucket (blocking); raises :class:`~streamer.s3.S3SetupError`."""
        self._thread.start()

        async def start() -> None:
            self._exit = contextlib.AsyncExitStack()
            self._client = await self._exit.enter_async_context(s3_client(self.options))
            await check_bucket(self._client, self.options, setting="STREAMER_DATA_URL")

        try:
            self._run(start)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Close the client and stop the loop (idempotent)."""
        if not self._thread.is_alive():
            return
        if self._exit is not None:
            exit_stack, self._exit = self._exit, None
            with contextlib.suppress(Exception):
                self._run(exit_stack.aclose)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _run(self, action: Callable[[], Awaitable[T]], bounded: bool = True) -> T:
        """Run ``action`` on the client's loop and wait for it; ``bounded``: within the options' deadline.

        File transfers are not bounded as a whole (their size varies): botocore's connect and read
        timeouts still end a stalled one.
        """

        async def run() -> T:
            async with asyncio.timeout(self.options.deadline_s if bounded else None):
                return await action()

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise StoreUnavailable(f"s3: {self.url} is closed") from None

    def _call(self, what: str, action: Callable[[], Awaitable[T]], bounded: bool = True) -> T:
        """Run ``action`` on the client's loop; S3's refusals and transport errors become ours."""
        try:
            return self._run(action, bounded)
        except ClientError as exc:
            code, status = error_code(exc)
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                raise PreconditionFailed(what) from None
            if code in ("NoSuchKey", "404", "NotFound") or status == 404:
                raise NotFound(f"no {what} in {self.url}") from None
            raise StoreUnavailable(f"s3: {code or status} on {what} in {self.url}") from None
        except TRANSPORT_ERRORS as exc:
            raise StoreUnavailable(f"s3: {type(exc).__name__} on {what} in {self.url}: {exc}") from None

    def _key(self, key: str) -> str:
        return self.options.object_key(key)

    # -- objects ---------------------------------------------------------------------------

    def get(self, key: str, bounded: bool = True) -> tuple[bytes, str]:
        """The object's bytes and S3 ETag; raises :class:`NotFound`."""

        async def go() -> tuple[bytes, str]:
            response = await self._client.get_object(Bucket=self.options.bucket, Key=self._key(key))
            async with response["Body"] as body:
                data: bytes = await body.read()
            if len(data) != response.get("ContentLength", len(data)):  # a cut body is never taken for the object
                raise StoreUnavailable(f"s3: body of {key!r} cut short")
            return data, str(response["ETag"])

        return self._call(key, go, bounded)

    def head(self, key: str) -> ObjectInfo | None:
        """The object's info, or None when there is none."""

        async def go() -> ObjectInfo:
            r = await self._client.head_object(Bucket=self.options.bucket, Key=self._key(key))
            return ObjectInfo(key, str(r["ETag"]), int(r["ContentLength"]), r["LastModified"])

        try:
            return self._call(key, go)
        except NotFound:
            return None

    def put(self, key: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False) -> str:
        """Store ``data`` whole (S3 never shows a partial object); returns the new ETag.

        ``if_match`` (an S3 ETag) or ``if_none_match`` make it a conditional write that raises
        :class:`PreconditionFailed` if the object changed, or exists, meanwhile.
        """
        extra: dict[str, str] = {}
        if if_match is not None:
            extra["IfMatch"] = if_match
        if if_none_match:
            extra["IfNoneMatch"] = "*"

        async def go() -> str:
            r = await self._client.put_object(Bucket=self.options.bucket, Key=self._key(key), Body=data, **extra)
            return str(r["ETag"])

        return self._call(key, go)

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Upload the file at ``path`` as one object, streamed from the file (S3 takes up to 5 GB in one PUT)."""
        extra = {"ContentType": content_type} if content_type else {}

        async def go() -> None:
            with path.open("rb") as body:
                await self._client.put_object(Bucket=self.options.bucket, Key=self._key(key), Body=body, **extra)

        self._call(key, go, bounded=False)

    def download(self, key: str, dest: Path) -> None:
        """Copy the object to ``dest`` atomically (a temp file renamed into place); raises :class:`NotFound`."""
        data, _ = self.get(key, bounded=False)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".download-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def delete(self, key: str) -> None:
        """Remove the object (no error if there is none)."""

        async def go() -> None:
            await self._client.delete_object(Bucket=self.options.bucket, Key=self._key(key))

        self._call(key, go)

    def list(self, folder: str) -> list[ObjectInfo]:
        """Every object below ``folder`` (relative to the data prefix, ending in ``/``)."""
        root = self._key(folder)

        async def go() -> list[ObjectInfo]:
            found = []
            paginator = self._client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.options.bucket, Prefix=root):
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.options.root) :]
                    found.append(ObjectInfo(key, str(item["ETag"]), int(item["Size"]), item["LastModified"]))
            return found

        return self._call(folder, go)

    def presign(self, key: str, expires_s: int, disposition: str | None = None) -> str:
        """A presigned GET URL of the object, valid ``expires_s`` seconds (with ``Content-Disposition`` if given)."""
        params = {"Bucket": self.options.bucket, "Key": self._key(key)}
        if disposition is not None:
            params["ResponseContentDisposition"] = disposition

        async def go() -> str:
            url: str = await self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)
            return url

        return self._call(key, go)


def data_options(settings: Any) -> S3Options:
    """The S3 options of ``STREAMER_DATA_URL``: its bucket and prefix, the S3_* connection settings."""
    assert settings.data_s3 is not None
    bucket, prefix = settings.data_s3
    return dataclasses.replace(options_from_settings(settings), bucket=bucket, prefix=prefix)
