"""Where the server's frames come from, chosen by settings: store, cache, rig and URL mode (I/O).

The app lifespan opens one :class:`FrameSource`: a local folder or S3 (one aiobotocore client
for the process), always behind :class:`~streamer.cache.CachedFrameStore`, and the function
that turns a frame key into the URL viewers fetch (``STREAMER_URL_MODE``):

==========  =====================================================  ==========================
mode        viewers fetch                                          ``frame_base_url``
==========  =====================================================  ==========================
server      ``/frames/KEY`` from this server, through the cache    ``/frames/``
public      ``S3_BASE_URL/S3_PREFIX/KEY`` (public bucket or CDN)   that prefix
presigned   a presigned S3 GET URL per key, re-signed near expiry  ``null``
==========  =====================================================  ==========================

Every other rig (``STREAMER_RIGS_DIR``, see :mod:`streamer.rigset`) goes through the same
cache under the keys ``rigs/{id}/...``. A rig from a local folder is always served by this
server (``/frames/rigs/{id}/...``); a rig on S3 (``STREAMER_RIGS_DIR=s3://S3_BUCKET/PREFIX/``)
follows the mode like the default rig, with its own prefix (``PREFIX{id}/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from streamer.cache import BudgetedFrameStore, CachedFrameStore, ErrorSink
from streamer.core.rig import Rig
from streamer.frames import FrameStore, LocalFrameStore
from streamer.rigload import load_rig
from streamer.rigset import DEFAULT_RIG_ID, PrefixedFrameStore, RigsFrameStore, find_rigs, find_s3_rigs, key_prefix
from streamer.s3 import (
    PresignedUrls,
    S3FrameStore,
    S3Options,
    check_bucket,
    load_s3_rig,
    options_from_settings,
    public_base_url,
    s3_client,
)
from streamer.settings import Settings

log = logging.getLogger(__name__)


def server_frame_url(key: str) -> str:
    return "/frames/" + key


@dataclass(frozen=True)
class ServedRig:
    """One rig this server plays: its id, the rig, where its frames are, and their URLs."""

    id: str
    rig: Rig
    location: str
    frame_url: Callable[[str], str]  # a key of this rig -> the URL viewers fetch
    frame_base_url: str | None

    @property
    def key_prefix(self) -> str:
        return key_prefix(self.id)

    def store_key(self, key: str) -> str:
        """``key`` (of this rig) as the frame store and the cache know it."""
        return self.key_prefix + key

    def frames(self, store: FrameStore) -> FrameStore:
        """This rig's frames by its own keys, from the server's (cached) store."""
        return PrefixedFrameStore(store, self.key_prefix) if self.key_prefix else store

    def to_json(self) -> dict[str, Any]:
        """The summary ``GET /rigs`` lists."""
        cfg = self.rig.config
        return {
            "id": self.id,
            "name": cfg.name,
            "default": self.id == DEFAULT_RIG_ID,
            "size": list(cfg.size) if cfg.size else None,
            "expressions": list(self.rig.expressions),
            "poses": list(self.rig.poses),
            "frames": len(self.rig.file_sizes),
            "frame_base_url": self.frame_base_url,
        }


def _served_here(rig_id: str, location: str, rig: Rig) -> ServedRig:
    """A rig whose frames viewers fetch from this server (``/frames/rigs/{id}/...``)."""
    base = "/frames/" + key_prefix(rig_id)
    return ServedRig(rig_id, rig, location, lambda key: base + key, base)


@dataclass(frozen=True)
class _OtherRig:
    """A rig of ``STREAMER_RIGS_DIR`` as found: its store, and its S3 options when it is on S3."""

    id: str
    location: str
    rig: Rig
    store: FrameStore
    s3: S3Options | None = None


class FrameSource:
    """The rigs, the cached frame store and the frame URLs, built from ``settings`` by :meth:`open`."""

    def __init__(self, settings: Settings, rig: Rig | None = None) -> None:
        self.settings = settings
        self._rig = rig
        self._stack = contextlib.AsyncExitStack()
        self.store: CachedFrameStore | None = None
        self.export_store: FrameStore | None = None  # for exports: the viewers' cache, read but never filled
        self.frame_url: Callable[[str], str] = server_frame_url
        self.frame_base_url: str | None = "/frames/"
        self.location = str(settings.frames_dir)
        # Every rig served, by id, the default first.
        self.rigs: dict[str, ServedRig] = {}

    @property
    def rig(self) -> Rig:
        assert self._rig is not None, "FrameSource.open() first"
        return self._rig

    @property
    def cache(self) -> CachedFrameStore:
        assert self.store is not None, "FrameSource.open() first"
        return self.store

    async def open(self) -> FrameSource:
        """Connect (S3: check the bucket, fail fast), load the rig if needed, build the cache and URLs."""
        settings = self.settings
        client: Any = None
        options: S3Options | None = None
        try:
            base: FrameStore
            if settings.use_s3:
                options = options_from_settings(settings)
                client = await self._stack.enter_async_context(s3_client(options))
                await check_bucket(client, options)
                if self._rig is None:
                    self._rig = await load_s3_rig(client, options)
                base = S3FrameStore(client, options)
                self.location = f"s3://{options.bucket}/{options.root}"
            else:
                if self._rig is None:
                    self._rig = await asyncio.to_thread(load_rig, settings.frames_dir)
                base = LocalFrameStore(settings.frames_dir)
            others = await self._find_others(client, options)
            if others:
                base = RigsFrameStore(base, {o.id: o.store for o in others})
            self.store = CachedFrameStore(base, settings.cache_mb * 1024 * 1024, settings.store_concurrency)
            self._stack.push_async_callback(self.store.close)
            exports = CachedFrameStore(base, settings.export_cache_mb * 1024 * 1024, settings.store_concurrency)
            self._stack.push_async_callback(exports.close)
            self.export_store = BudgetedFrameStore(self.store, exports)
            if settings.url_mode != "server":
                prefix = settings.s3_prefix if settings.use_s3 else ""
                self.frame_url, self.frame_base_url = await self._urls(self.rig, prefix, client, options)
            self.rigs[DEFAULT_RIG_ID] = ServedRig(
                DEFAULT_RIG_ID, self.rig, self.location, self.frame_url, self.frame_base_url
            )
            for o in others:
                served = _served_here(o.id, o.location, o.rig)
                if o.s3 is not None and settings.url_mode != "server":
                    url, base_url = await self._urls(o.rig, o.s3.prefix, client, o.s3)
                    served = dataclasses.replace(served, frame_url=url, frame_base_url=base_url)
                self.rigs[o.id] = served
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _find_others(self, client: Any = None, options: S3Options | None = None) -> list[_OtherRig]:
        """The rigs of ``STREAMER_RIGS_DIR`` (a folder, or a prefix of the default rig's bucket)."""
        settings = self.settings
        if settings.rigs_folder is not None:
            found = await asyncio.to_thread(find_rigs, settings.rigs_folder)
            return [_OtherRig(i, str(path), rig, LocalFrameStore(path)) for i, (path, rig) in found.items()]
        if settings.rigs_s3 is None or options is None:
            return []
        rigs = dataclasses.replace(options, prefix=settings.rigs_s3[1])
        found_s3 = await find_s3_rigs(client, rigs, skip_root=options.root)
        return [
            _OtherRig(i, f"s3://{o.bucket}/{o.root}", rig, S3FrameStore(client, o), o)
            for i, (o, rig) in found_s3.items()
        ]

    async def _urls(
        self, rig: Rig, prefix: str, client: Any, options: S3Options | None
    ) -> tuple[Callable[[str], str], str | None]:
        """``(frame_url, frame_base_url)`` of a rig stored under ``prefix`` in public or presigned mode."""
        settings = self.settings
        if settings.url_mode == "public":
            assert settings.s3_base_url is not None
            base_url = public_base_url(settings.s3_base_url, prefix)
            return (lambda key: base_url + key), base_url
        assert options is not None  # presigned needs USE_S3 (checked by Settings)
        presigner = PresignedUrls(client, options, sorted(rig.file_sizes), settings.presign_expires_s)
        await presigner.refresh()
        task = asyncio.create_task(presigner.run(), name=f"presign {options.root}")
        self._stack.push_async_callback(_cancel, task)
        return presigner.url, None

    def prefetch(self, keys: Iterable[str], on_error: ErrorSink | None = None) -> int:
        """Warm the cache with ``keys`` (in presentation order); see :meth:`CachedFrameStore.prefetch`."""
        return self.cache.prefetch(keys, on_error)

    async def close(self) -> None:
        await self._stack.aclose()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
