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

Every other rig (``STREAMER_RIGS_DIR``, see :mod:`streamer.rigset`) is read from its local
folder, through the same cache, under the keys ``rigs/{id}/...``, and served by this server at
``/frames/rigs/{id}/...`` whatever the mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from streamer.cache import CachedFrameStore, ErrorSink
from streamer.core.rig import Rig
from streamer.frames import FrameStore, LocalFrameStore
from streamer.rigload import load_rig
from streamer.rigset import DEFAULT_RIG_ID, PrefixedFrameStore, RigsFrameStore, find_rigs, key_prefix
from streamer.s3 import (
    PresignedUrls,
    S3FrameStore,
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


def _local_rig(rig_id: str, path: str, rig: Rig) -> ServedRig:
    base = "/frames/" + key_prefix(rig_id)
    return ServedRig(rig_id, rig, path, lambda key: base + key, base)


class FrameSource:
    """The rig, the cached frame store and the frame URLs, built from ``settings`` by :meth:`open`."""

    def __init__(self, settings: Settings, rig: Rig | None = None) -> None:
        self.settings = settings
        self._rig = rig
        self._stack = contextlib.AsyncExitStack()
        self.store: CachedFrameStore | None = None
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
            others = await asyncio.to_thread(find_rigs, settings.rigs_dir) if settings.rigs_dir else {}
            if others:
                base = RigsFrameStore(base, {rig_id: LocalFrameStore(path) for rig_id, (path, _) in others.items()})
            self.store = CachedFrameStore(base, settings.cache_mb * 1024 * 1024, settings.store_concurrency)
            self._stack.push_async_callback(self.store.close)
            if settings.url_mode == "public":
                assert settings.s3_base_url is not None
                base_url = public_base_url(settings.s3_base_url, settings.s3_prefix if settings.use_s3 else "")
                self.frame_url, self.frame_base_url = (lambda key: base_url + key), base_url
            elif settings.url_mode == "presigned":
                presigner = PresignedUrls(client, options, sorted(self.rig.file_sizes), settings.presign_expires_s)
                await presigner.refresh()
                task = asyncio.create_task(presigner.run(), name="presign")
                self._stack.push_async_callback(_cancel, task)
                self.frame_url, self.frame_base_url = presigner.url, None
            self.rigs[DEFAULT_RIG_ID] = ServedRig(
                DEFAULT_RIG_ID, self.rig, self.location, self.frame_url, self.frame_base_url
            )
            for rig_id, (path, rig) in others.items():
                self.rigs[rig_id] = _local_rig(rig_id, str(path), rig)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    def prefetch(self, keys: Iterable[str], on_error: ErrorSink | None = None) -> int:
        """Warm the cache with ``keys`` (in presentation order); see :meth:`CachedFrameStore.prefetch`."""
        return self.cache.prefetch(keys, on_error)

    async def close(self) -> None:
        await self._stack.aclose()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
