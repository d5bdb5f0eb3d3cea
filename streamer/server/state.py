"""The server's state: what the lifespan builds once, and the one way handlers reach it (no I/O).

The lifespan (:mod:`streamer.server.app`) puts a :class:`ServerState` on ``app.state.server``;
every handler, HTTP or WebSocket, reaches it through :func:`state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from starlette.requests import HTTPConnection

if TYPE_CHECKING:  # the modules below import this one for their handlers
    from streamer.cache import CachedFrameStore
    from streamer.core.rig import Rig
    from streamer.export.manager import ExportManager
    from streamer.frames import FrameStore
    from streamer.server.channels import ChannelService
    from streamer.server.framesource import ServedRig
    from streamer.server.limits import HeavyWork
    from streamer.server.metrics import MetricsBoard
    from streamer.server.speech import SpeechWorkers
    from streamer.services import Services
    from streamer.settings import Settings
    from streamer.storage import AudioStore, TimelineStore


@dataclass(frozen=True)
class ServerState:
    """The shared services and what only the server runs: channels, speech and heavy-work pools, exports, metrics."""

    services: Services
    channels: ChannelService
    speech: SpeechWorkers
    heavy: HeavyWork
    exports: ExportManager  # LocalExports, or QueueJobs with REDIS_URL (export workers)
    metrics: MetricsBoard  # this process's figures, and (REDIS_URL) the other processes'

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def rig(self) -> Rig:
        """The default rig."""
        return self.services.frames.rig

    @property
    def rigs(self) -> Mapping[str, ServedRig]:
        """Every rig served, by id, the default first."""
        return self.services.frames.rigs

    @property
    def store(self) -> CachedFrameStore:
        """The frames, behind the viewers' cache."""
        return self.services.frames.cache

    @property
    def export_store(self) -> FrameStore:
        """The frames for exports: the viewers' cache is read, never filled (exports have their own)."""
        store = self.services.frames.export_store
        assert store is not None
        return store

    @property
    def timelines(self) -> TimelineStore:
        return self.services.timelines

    @property
    def audio(self) -> AudioStore:
        return self.services.audio


def state(conn: HTTPConnection) -> ServerState:
    """The running server's state, for a request or a WebSocket."""
    return cast(ServerState, conn.app.state.server)
