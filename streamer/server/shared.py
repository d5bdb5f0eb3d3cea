"""Channels shared by several processes through Redis (I/O): ownership, forwarding, takeover.

:class:`SharedChannelService` is the :class:`~streamer.server.channels.ChannelService` of a
process that is one of several (``REDIS_URL`` set; docs/scaling.md). Any process accepts
viewers and controllers of any channel; the one holding a channel's lease
(:mod:`~streamer.server.ownership`) runs it exactly as a single process would, and its messages
reach every process through :class:`~streamer.server.redis_fanout.RedisFanout`. Elsewhere:

- a command is forwarded to the owner, which answers with the result or the error;
- a viewer is brought up to date by the owner (``join``), its answer ordered before the
  broadcasts that follow it;
- when the owner dies, a process with viewers of the channel takes the lease and continues
  from the snapshot the owner kept in Redis: the same plan, so the same frames at the same times.

Server time is wall-clock milliseconds, the same in every process (NTP across machines).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import json
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from streamer.core.commands import parse_command
from streamer.core.errors import CommandError, StoreUnavailable, StreamerError
from streamer.server.channels import ChannelService, WallClock, check_channel_name
from streamer.server.errors import ChannelLimit
from streamer.server.fanout import CLOSE_BAD_CHANNEL, CLOSE_RESTART, LocalFanout, Viewer, encode
from streamer.server.livechannel import LiveChannel, error_message
from streamer.server.ownership import RENEW_MS, WATCH_MS, Leases
from streamer.server.redis_fanout import Backoff, RedisFanout, state_key

log = logging.getLogger("streamer.server.live")

# A command reaching a dead owner waits this long for the takeover (lease expiry + a watch).
FORWARD_TIMEOUT_S = 3.0
JOIN_TIMEOUT_S = 2.0
AUDIENCE_EVERY_S = 1.0  # processes tell each channel's owner how many viewers they have this often
SUBSCRIBE_TIMEOUT_S = 10.0
# After Redis comes back (empty), the processes that ran channels take their leases again (within a
# renewal); meanwhile no process starts a channel afresh, which would replace the one running.
SETTLE_S = 2.5


class ChannelUnavailable(StoreUnavailable):
    """The process running a channel did not answer in time (Redis down, or a takeover under way)."""


class _Gone(Exception):
    """The process asked is not (or no longer) the channel's owner: ask again."""


def _streamer_errors(cls: type[StreamerError] = StreamerError) -> Iterator[type[StreamerError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _streamer_errors(sub)


def rebuild_error(kind: str, message: str) -> StreamerError:
    """The error an owner raised, raised again where the command came in (same class when it can be)."""
    for cls in _streamer_errors():
        plain = all("__init__" not in vars(k) for k in cls.__mro__ if issubclass(k, StreamerError))
        if cls.__name__ == kind and plain:
            return cls(message)
    return CommandError(message)


class SharedChannelService(ChannelService):
    """The channels of this process, one of several sharing them through Redis."""

    def __init__(self, *, redis: Redis, **kwargs: Any) -> None:
        self.process_id = secrets.token_hex(8)
        self.redis = redis
        clock = WallClock()
        self.shared = RedisFanout(
            redis,
            self.process_id,
            snapshot=self._snapshot,
            on_request=self._on_request,
            on_reconnect=self._resync,
            on_channel=self._channel_seen,
            now_ms=clock.now_ms,
        )
        super().__init__(fanout=self.shared, clock=clock, **kwargs)
        self.leases = Leases(redis, self.process_id)
        self._calls: dict[int, tuple[asyncio.Future[dict[str, Any]], Callable[[dict[str, Any]], None] | None]] = {}
        self._ids = itertools.count(1)
        self._taking = asyncio.Lock()  # one lease taken at a time: never adopted twice
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()

    # -- life -------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.shared.start()
        try:
            await asyncio.wait_for(self.shared.ready.wait(), SUBSCRIBE_TIMEOUT_S)
        except TimeoutError:
            await self.shared.close()
            raise StoreUnavailable(f"cannot reach Redis at REDIS_URL within {SUBSCRIBE_TIMEOUT_S:.0f} s") from None
        await self._owner_or_take("main", fresh=True)  # "main" always exists, in some process
        self._housekeeper = asyncio.create_task(self._housekeeping(), name="channel-housekeeping")
        self._tasks = [
            asyncio.create_task(self._renew_loop(), name="lease-renew"),
            asyncio.create_task(self._watch_loop(), name="lease-watch"),
        ]
        log.info("process %s shares channels through Redis", self.process_id)
        gc.freeze()

    async def close(self) -> None:
        for task in [*self._tasks, *self._background]:
            task.cancel()
        owned = list(self.channels)
        for name in set(self.shared.channels_watched()) - set(owned):
            self.fanout.drop(name, CLOSE_RESTART)  # viewers of channels running elsewhere
        await super().close()
        # Hand the channels over at once rather than after the lease expires (their state stays).
        for name in owned:
            try:
                await self.leases.release(name, forget=False)
            except (RedisError, OSError):
                break
        await self.shared.close()

    async def health(self) -> dict[str, Any]:
        """For ``GET /health``: this process's id, whether Redis answers, the channels it runs, its viewers."""
        try:
            reachable = bool(await asyncio.wait_for(self.redis.ping(), 1.0))
        except (RedisError, OSError, TimeoutError):
            reachable = False
        local = self.shared.local
        viewers = {name: local.audience(name).viewers for name in local.channels()}
        return {"process": self.process_id, "reachable": reachable, "runs": sorted(self.channels), "viewers": viewers}

    @property
    def here(self) -> LocalFanout:
        return self.shared.local

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- ownership ----------------------------------------------------------------------------------

    async def _owner_or_take(self, name: str, *, fresh: bool) -> str:
        """The process running ``name`` (this one, having taken it if free), or "" for none.

        With ``fresh`` a free channel is created here if it has no snapshot; without, it is taken
        only to continue it from its snapshot (viewers never create a channel). While Redis
        settles after a reconnection a free channel is never taken: the process running it takes
        its lease again within a renewal, and taking it meanwhile would run it twice for a moment,
        the new runner's viewers never told what they missed.
        """
        async with self._taking:
            if name in self.channels:
                return self.process_id
            owner = await self.leases.owner(name)
            if owner is None and self._settling():
                return ""  # its runner may not have taken its lease again yet: never start or continue it here
            if owner is None and await self.leases.acquire(name, only_if_state=not fresh):
                owner = self.process_id
            elif owner is None:
                return (await self.leases.owner(name)) or ""
            if owner == self.process_id:  # just taken (or held while the channel was away): run it
                await self._adopt(name)
            return owner

    def _settling(self) -> bool:
        """Redis was unreachable a moment ago: the leases it lost are not all taken again yet."""
        shared = self.shared
        recent = shared.reconnected_at is not None and time.monotonic() - shared.reconnected_at < SETTLE_S
        return recent or not shared.ready.is_set()

    async def _adopt(self, name: str) -> None:
        """Run ``name`` here, from its snapshot when there is one (hold ``_taking`` and its lease)."""
        state = await self.redis.get(state_key(name))
        try:
            self.channel(name, None if state is None else functools.partial(self._restore, str(state)))
        except ChannelLimit:
            await self.leases.release(name, forget=False)
            raise
        log.info("channel %s: runs in this process now%s", name, "" if state is None else ", continued")

    def _snapshot(self, name: str) -> str | None:
        channel = self.channels.get(name)
        if channel is None:
            return None
        return json.dumps({"core": channel.core.snapshot(), "commands": channel.commands}, separators=(",", ":"))

    def _restore(self, state: str, channel: LiveChannel) -> None:
        saved = json.loads(state)
        core = saved["core"]
        served = self.rigs.get(core["rig_id"])
        if served is None:
            log.warning("channel %s: its rig %r is not served here; starting it afresh", channel.name, core["rig_id"])
            return
        if served is not channel.served:
            channel.served = served
            channel.core.switch_rig(self.now_ms(), served.rig, served.id)
        channel.core.restore(core)
        channel.commands = int(saved["commands"])

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(RENEW_MS / 1000)
            try:
                lost = await self.leases.renew(list(self.channels))
            except (RedisError, OSError):
                continue  # the channels keep running here; their lease is taken again once Redis is back
            for name in lost:
                channel = self.channels.pop(name, None)
                if channel is not None:
                    channel.close()
                    log.warning("channel %s: another process runs it now", name)
                    self._rejoin(name)  # its viewers here hear the new owner, from its hello

    async def _watch_loop(self) -> None:
        """Take over the channels that viewers here watch when their owner is gone; report audiences."""
        every = max(1, round(AUDIENCE_EVERY_S * 1000 / WATCH_MS))
        for round_no in itertools.count():
            await asyncio.sleep(WATCH_MS / 1000)
            watched = {*self.shared.channels_watched(), *self.waiting} - set(self.channels)
            try:
                for name in watched:
                    if self._settling():
                        break
                    async with self._taking:
                        if name not in self.channels and await self.leases.acquire(name, only_if_state=True):
                            await self._adopt(name)
                    await self._join_waiting(name)
                if round_no % every == 0:
                    await self._report_audiences()
            except (RedisError, OSError):
                continue
            except ChannelLimit as exc:
                log.warning("cannot take over a channel: %s", exc)

    async def _join_waiting(self, name: str) -> None:
        """Viewers here waiting for ``name`` join it once another process runs it (even before it broadcasts)."""
        if self.waiting.get(name) and name not in self.channels:
            owner = await self.leases.owner(name)
            if owner is not None and owner != self.process_id:
                self._channel_seen(name)

    async def _report_audiences(self) -> None:
        for name in set(self.shared.channels_watched()) - set(self.channels):
            owner = await self.leases.owner(name)
            if owner is not None and owner != self.process_id:
                audience = self.shared.local.audience(name)
                report = {"op": "audience", "channel": name, "from": self.process_id}
                await self.shared.request(owner, {**report, "viewers": audience.viewers, "rtt": audience.max_rtt_ms})

    def reap_idle(self) -> list[str]:
        reaped = super().reap_idle()
        for name in reaped:
            self._spawn(self.leases.release(name, forget=True))
        return reaped

    # -- viewers ----------------------------------------------------------------------------------

    async def connect(self, name: str, viewer: Viewer) -> None:
        if name in self.channels:
            await super().connect(name, viewer)
        else:  # asks Redis and maybe another process: the connection is served meanwhile
            self._spawn(self._join(name, viewer, create=viewer.role == "controller"))

    async def _join(self, name: str, viewer: Viewer, *, create: bool) -> None:
        """Bring ``viewer`` onto ``name`` wherever the channel runs, retrying through takeovers."""
        backoff = Backoff()
        known = self.shared.senders.get(name)  # the owner, as its broadcasts say: no Redis round trip
        while not viewer.closing:
            try:
                if name in self.channels:
                    await super().connect(name, viewer)
                    return
                owner, known = known or await self._owner_or_take(name, fresh=create), None
                if owner == "" and self._settling():
                    raise _Gone("Redis is settling after a reconnection")
                if owner == "":  # no such channel yet: wait for a controller (_channel_seen)
                    if viewer not in self.waiting.get(name, ()):
                        self.wait_for(name, viewer)
                    return
                if owner != self.process_id:
                    joined = functools.partial(self._joined, name, viewer)
                    envelope = {"op": "join", "channel": name, "role": viewer.role}
                    await self._call(owner, envelope, JOIN_TIMEOUT_S, on_reply=joined)
                    return
            except ChannelLimit as exc:
                viewer.push(encode(error_message("bad_message", str(exc))))
                viewer.close(CLOSE_BAD_CHANNEL)
                return
            except (_Gone, ChannelUnavailable, RedisError, OSError) as exc:
                log.info("channel %s: joining again (%s)", name, exc or type(exc).__name__)
            await asyncio.sleep(backoff.next())

    def _joined(self, name: str, viewer: Viewer, reply: dict[str, Any]) -> None:
        """The owner's answer to a join, in order with its broadcasts: from now on the viewer hears them."""
        if viewer.closing or "result" not in reply:
            return
        for text in reply["result"]:
            viewer.push(text)
        viewer.channel = name
        self.fanout.join(name, viewer)
        here = self.shared.local.audience(name).viewers
        log.info("channel %s: %s joined (%d watching here)", name, viewer.role, here)

    def _channel_seen(self, name: str) -> None:
        """Another process broadcasts on ``name``: viewers here waiting for it join it."""
        for viewer in self.waiting.pop(name, ()):
            if not viewer.closing:
                self._spawn(self._join(name, viewer, create=False))

    def remove_viewer(self, viewer: Viewer) -> None:
        if viewer.channel is not None and viewer.channel not in self.channels:
            self.fanout.leave(viewer.channel, viewer)  # a viewer of a channel running elsewhere
        super().remove_viewer(viewer)

    def _resync(self) -> None:
        """After Redis came back: viewers of channels running elsewhere may have missed messages."""
        for name in set(self.shared.channels_watched()) - set(self.channels):
            self._rejoin(name)

    def _rejoin(self, name: str) -> None:
        for viewer in list(self.shared.local.viewers(name)):
            self.fanout.leave(name, viewer)
            self._spawn(self._join(name, viewer, create=False))

    # -- commands -----------------------------------------------------------------------------------

    async def command(self, name: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        check_channel_name(name)
        parse_command(kind, body, self.now_ms())  # a bad command is refused here, before any forwarding
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FORWARD_TIMEOUT_S
        known = self.shared.senders.get(name)  # the owner, as its broadcasts say: no Redis round trip
        while True:
            if name in self.channels:
                return await super().command(name, kind, body)
            guessed = known is not None
            try:
                owner, known = known or await self._owner_or_take(name, fresh=True), None
                if owner == "":
                    raise _Gone("Redis is settling after a reconnection")
                if owner != self.process_id:
                    envelope = {"op": "command", "channel": name, "kind": kind, "body": body}
                    reply = await self._call(owner, envelope, deadline - loop.time())
                    return dict(reply["result"])
            except (_Gone, RedisError, OSError) as exc:
                if loop.time() >= deadline:
                    reason = f"channel {name!r} is not answering (its process or Redis is down)"
                    raise ChannelUnavailable(reason) from exc
                if not guessed:  # a stale guess is retried at once, through the lease
                    await asyncio.sleep(0.1)

    async def describe(self, name: str) -> dict[str, Any]:
        if name not in self.channels:
            owner = await self.leases.owner(name)
            if owner is not None and owner != self.process_id:
                try:
                    reply = await self._call(owner, {"op": "describe", "channel": name}, JOIN_TIMEOUT_S)
                    return dict(reply["result"])
                except _Gone:
                    pass
        return await super().describe(name)

    # -- requests between processes ---------------------------------------------------------------

    async def _call(
        self,
        owner: str,
        envelope: dict[str, Any],
        timeout_s: float,
        on_reply: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Ask ``owner`` and wait for its reply (``on_reply`` runs as it is read, before later broadcasts)."""
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[request_id] = (future, on_reply)
        try:
            if not await self.shared.request(owner, {**envelope, "rid": request_id, "from": self.process_id}):
                raise _Gone(f"process {owner} is gone")
            reply = await asyncio.wait_for(future, max(timeout_s, 0.05))
        except TimeoutError:
            raise ChannelUnavailable(f"channel {envelope['channel']!r}: its process did not answer in time") from None
        finally:
            self._calls.pop(request_id, None)
        if reply.get("gone"):
            raise _Gone(f"process {owner} no longer runs {envelope['channel']!r}")
        if "error" in reply:
            raise rebuild_error(reply["error"]["class"], reply["error"]["message"])
        return reply

    def _on_request(self, envelope: dict[str, Any]) -> None:
        op = envelope.get("op")
        if op == "reply":
            future, on_reply = self._calls.get(envelope["rid"], (None, None))
            if future is not None and not future.done():
                if on_reply is not None:
                    on_reply(envelope)
                future.set_result(envelope)
        elif op == "audience":
            self.shared.report(envelope["channel"], envelope["from"], int(envelope["viewers"]), int(envelope["rtt"]))
        elif op in ("join", "command", "describe"):
            self._spawn(self._serve(envelope))

    async def _serve(self, envelope: dict[str, Any]) -> None:
        """Answer another process's request about a channel running here."""
        name, op = envelope["channel"], envelope["op"]
        reply: dict[str, Any] = {"op": "reply", "rid": envelope["rid"]}
        channel = self.channels.get(name)
        try:
            if channel is None:
                reply["gone"] = True
            elif op == "join":
                async with channel.lock:  # queued before anything broadcast after it
                    channel.last_used_ms = self.now_ms()
                    reply["result"] = channel.encoded(channel.core.join(self.now_ms(), envelope["role"]))
                    self.shared.send(envelope["from"], reply)
                    return
            elif op == "command":
                reply["result"] = await super().command(name, envelope["kind"], envelope["body"])
            else:
                reply["result"] = await super().describe(name)
        except StreamerError as exc:
            reply["error"] = {"class": type(exc).__name__, "message": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the asking process gets an answer either way
            log.error("channel %s: %s from another process failed", name, op, exc_info=exc)
            reply["error"] = {"class": "StreamerError", "message": "internal error in the channel's process"}
        self.shared.send(envelope["from"], reply)
