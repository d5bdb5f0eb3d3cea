"""Fan-out through Redis (I/O): each broadcast published once, delivered by every process to its viewers.

:class:`RedisFanout` is the :class:`~streamer.server.fanout.Fanout` of several processes sharing
channels (docs/scaling.md). The owner of a channel publishes each text once on the channel's
Redis topic and every other process delivers what it reads there to its viewers of that
channel; the owner writes it to its own viewers as soon as the batch is on its way to Redis, so
the processes deliver at the same time. All of a process's publishes go out in order
through one queue, in MULTI/EXEC batches that also store the channel's snapshot, so what Redis
holds is never behind what viewers were sent. Each process reads one pub/sub connection (every
channel's topic, and its own topic for requests and replies), so replies and broadcasts reach
it in the order the owner published them. A lost connection is retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from streamer.server.fanout import Audience, LocalFanout, Viewer

log = logging.getLogger(__name__)

PREFIX = "streamer"
# An audience report from another process counts this long (they come every second).
AUDIENCE_FRESH_S = 3.0
# Viewers in other processes get a message one Redis hop (and a process wake-up) after the owner's
# own viewers: their round trip counts this much more when re-plans are placed.
BROKER_LEAD_MS = 50
# A channel's snapshot outlives its last update this long (an abandoned channel's state goes away).
STATE_TTL_MS = 3_600_000
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.1, 1.0
READ_TIMEOUT_S = 1.0
# How long Redis may take to answer a batch before the connection counts as lost.
PUBLISH_TIMEOUT_S = 5.0


def channel_topic(name: str) -> str:
    return f"{PREFIX}:ch:{name}"


def process_topic(process_id: str) -> str:
    return f"{PREFIX}:proc:{process_id}"


def state_key(name: str) -> str:
    return f"{PREFIX}:state:{name}"


def lease_key(name: str) -> str:
    return f"{PREFIX}:lease:{name}"


class Backoff:
    """Delays between reconnection attempts: doubling from 0.1 s up to 1 s, reset on success."""

    def __init__(self) -> None:
        self.delay_s = 0.0

    def next(self) -> float:
        self.delay_s = min(max(self.delay_s * 2, BACKOFF_FIRST_S), BACKOFF_MAX_S)
        return self.delay_s

    def reset(self) -> bool:
        """Back to no delay; True when there had been a failure."""
        failed, self.delay_s = self.delay_s > 0, 0.0
        return failed


class RedisFanout:
    """This process's viewers, plus the other processes' through Redis pub/sub.

    ``snapshot(name)`` gives the JSON state of a channel this process owns (None otherwise),
    stored with every batch that carries its messages. ``on_request(envelope)`` gets the JSON
    objects other processes address to this one. ``on_reconnect()`` runs after the pub/sub
    connection came back (messages may have been missed meanwhile). ``on_channel(name)`` runs
    when another process broadcasts on ``name`` (it exists: viewers waiting for it can join).
    ``now_ms`` is the server clock.
    """

    def __init__(
        self,
        redis: Redis,
        process_id: str,
        *,
        snapshot: Callable[[str], str | None],
        on_request: Callable[[dict[str, Any]], None],
        on_reconnect: Callable[[], None],
        on_channel: Callable[[str], None],
        now_ms: Callable[[], int],
    ) -> None:
        self.redis, self.process_id = redis, process_id
        self.local = LocalFanout(now_ms)  # the server clock: late frames are counted
        self._snapshot, self._on_request, self._on_reconnect = snapshot, on_request, on_reconnect
        self._on_channel = on_channel
        self._queue: list[tuple[str, str, bool]] = []  # (topic, text, is a channel broadcast), in order
        # Texts for this process's viewers, written once their batch is on its way to Redis: with
        # a number each, so a viewer that joined after one was made (and got the state it
        # carries in its join messages) does not get it again.
        self._unsent: list[tuple[str, str, int]] = []
        self._made = 0
        self._joined_after: dict[Viewer, int] = {}
        self._publishing = True  # False while Redis refuses: viewers here are not kept waiting
        self._wake = asyncio.Event()
        self._remote: dict[str, dict[str, tuple[int, int, float]]] = {}  # channel -> process -> report
        self.senders: dict[str, str] = {}  # channel -> the process whose broadcast came last (its owner)
        self.ready = asyncio.Event()  # subscribed: requests and replies can reach this process
        self.reconnected_at: float | None = None  # monotonic time of the last resubscription after a loss
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="redis-publish"),
            asyncio.create_task(self._read_loop(), name="redis-read"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- the Fanout protocol ------------------------------------------------------------------

    def join(self, channel: str, viewer: Viewer) -> None:
        if self._unsent:
            self._joined_after[viewer] = self._made
        self.local.join(channel, viewer)

    def leave(self, channel: str, viewer: Viewer) -> bool:
        return self.local.leave(channel, viewer)

    def deliver(self, channel: str, texts: Sequence[str]) -> None:
        for text in texts:
            self._enqueue(channel_topic(channel), text, broadcast=True)
        if not self._publishing:
            self.local.deliver(channel, texts)
            return
        for text in texts:
            self._made += 1
            self._unsent.append((channel, text, self._made))

    def _deliver_unsent(self) -> None:
        unsent, joined_after = self._unsent, self._joined_after
        self._unsent, self._joined_after = [], {}
        if not joined_after:  # a channel's consecutive texts in one write per viewer
            for channel, run in itertools.groupby(unsent, key=lambda item: item[0]):
                self.local.deliver(channel, [text for _, text, _ in run])
            return
        for channel, text, number in unsent:
            self.local.deliver(channel, [text], [viewer for viewer, made in joined_after.items() if made >= number])

    def audience(self, channel: str) -> Audience:
        """Every process's viewers of ``channel`` (others' as they last reported them, one hop further)."""
        here = self.local.audience(channel)
        viewers, rtt = here.viewers, here.max_rtt_ms
        fresh = time.monotonic() - AUDIENCE_FRESH_S
        for count, max_rtt, at in self._remote.get(channel, {}).values():
            if at >= fresh and count:
                viewers, rtt = viewers + count, max(rtt, max_rtt + BROKER_LEAD_MS)
        return Audience(viewers, rtt)

    def drop(self, channel: str, code: int) -> None:
        self.local.drop(channel, code)

    # -- between processes ---------------------------------------------------------------------

    def channels_watched(self) -> list[str]:
        """Channels with viewers connected to this process."""
        return self.local.channels()

    def report(self, channel: str, process_id: str, viewers: int, max_rtt_ms: int) -> None:
        """Another process's audience of ``channel`` (for the owner's lead and idle reaping)."""
        self._remote.setdefault(channel, {})[process_id] = (viewers, max_rtt_ms, time.monotonic())

    def send(self, process_id: str, envelope: dict[str, Any]) -> None:
        """Queue ``envelope`` for ``process_id``, after everything queued before it (replies)."""
        self._enqueue(process_topic(process_id), json.dumps(envelope, separators=(",", ":")), broadcast=False)

    async def request(self, process_id: str, envelope: dict[str, Any]) -> int:
        """Publish ``envelope`` to ``process_id`` now; returns how many processes got it (0: gone)."""
        return int(await self.redis.publish(process_topic(process_id), json.dumps(envelope, separators=(",", ":"))))

    def _enqueue(self, topic: str, text: str, *, broadcast: bool) -> None:
        self._queue.append((topic, text, broadcast))
        self._wake.set()

    def _batch(self) -> list[tuple[str, ...]]:
        """The queue as one MULTI/EXEC: its publishes (a channel's consecutive texts in one) and
        the snapshots of the channels they touch, stored with them."""
        commands: list[tuple[str, ...]] = [("MULTI",)]
        touched: dict[str, None] = {}
        for topic, text, broadcast in self._queue:
            if not broadcast:
                commands.append(("PUBLISH", topic, text))
                continue
            touched[topic] = None
            last = commands[-1]
            if last[0] == "PUBLISH" and last[1] == topic:
                commands[-1] = ("PUBLISH", topic, last[2] + "\n" + text)
            else:
                commands.append(("PUBLISH", topic, self.process_id + "\n" + text))
        self._queue = []
        prefix = len(channel_topic(""))
        for topic in touched:
            state = self._snapshot(topic[prefix:])
            if state is not None:
                commands.append(("SET", state_key(topic[prefix:]), state, "PX", str(STATE_TTL_MS)))
        commands.append(("EXEC",))
        return commands

    async def _publish_loop(self) -> None:
        """Publish the queue in MULTI/EXEC batches on a connection of its own.

        Each batch is handed to the kernel, then this process writes the same texts to its own
        viewers, so Redis (and through it the other processes) gets it while that fan-out runs.
        Redis's answers are read by another task (:meth:`_read_answers`): neither a batch nor
        this process's viewers wait for the previous batch's answer. Waiting for answers let the
        owner's viewers wait for a Redis that had lost its core to the process it had just woken
        (measured: 2-4 ms in one batch out of ten, with two workers on two cores), or for as long
        as Redis stalled.
        """
        backoff = Backoff()
        pool = self.redis.connection_pool
        while True:
            # No socket timeout on this connection: redis-py would then send through a task, a
            # loop turn later. Sends and answers are bounded by PUBLISH_TIMEOUT_S instead.
            conn = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
            answers: asyncio.Queue[int] = asyncio.Queue()  # replies owed by each batch sent
            reader = asyncio.create_task(self._read_answers(conn, answers, backoff), name="redis-answers")
            commands: list[tuple[str, ...]] = []
            try:
                while True:
                    await self._next_batch(reader)
                    commands = self._batch()
                    async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                        if not conn.is_connected:
                            await conn.connect()
                        await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
                    self._deliver_unsent()
                    answers.put_nowait(len(commands))
            except (RedisError, OSError) as exc:
                # Live messages are not worth keeping: viewers elsewhere resynchronize on reconnection.
                self._publishing = False
                self._deliver_unsent()
                delay = backoff.next()
                dropped = sum(command[0] == "PUBLISH" for command in commands)
                log.warning("redis: cannot publish (%s); %d dropped, retrying in %.1f s", exc, dropped, delay)
                await asyncio.sleep(delay)
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                await conn.disconnect(nowait=True)

    async def _next_batch(self, reader: asyncio.Task[None]) -> None:
        """Wait for something to publish; raises what ended ``reader`` (a lost connection) first."""
        if not self._wake.is_set() and not reader.done():
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait((woken, reader), return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
        if reader.done():
            reader.result()  # raises the connection's error
            raise ConnectionError("redis: the answers' reader ended")
        self._wake.clear()

    async def _read_answers(self, conn: AbstractConnection, answers: asyncio.Queue[int], backoff: Backoff) -> None:
        """Read each batch's answers in order (MULTI's OK, a QUEUED per command, EXEC's results)."""
        while True:
            owed = await answers.get()
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                for _ in range(owed - 1):
                    await conn.read_response()
                for result in await conn.read_response():
                    if isinstance(result, Exception):
                        raise result
            self._publishing = True
            if backoff.reset():
                log.warning("redis: publishing again")

    async def _read_loop(self) -> None:
        backoff, subscribed = Backoff(), False
        mine, everyone = process_topic(self.process_id), channel_topic("*")
        prefix = len(channel_topic(""))
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(everyone)
                await pubsub.subscribe(mine)
                confirmed = 0
                while confirmed < 2:  # both subscriptions hold before anyone is told to use them
                    message = await pubsub.get_message(timeout=READ_TIMEOUT_S)
                    if message is not None and message["type"] in ("subscribe", "psubscribe"):
                        confirmed += 1
                self.ready.set()
                backoff.reset()
                if subscribed:  # before: messages were missed meanwhile
                    log.warning("redis: subscribed again; viewers here resynchronize")
                    self.reconnected_at = time.monotonic()
                    self._on_reconnect()
                subscribed = True
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=READ_TIMEOUT_S)
                    if message is None:
                        continue
                    if message["channel"] == mine:
                        self._on_request(json.loads(message["data"]))
                    else:
                        self._on_broadcast(message["channel"][prefix:], message["data"])
            except (RedisError, OSError) as exc:
                self.ready.clear()
                delay = backoff.next()
                log.warning("redis: subscription lost (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

    def _on_broadcast(self, channel: str, payload: str) -> None:
        origin, _, texts = payload.partition("\n")
        if origin == self.process_id:
            return  # delivered here when it was sent
        self.senders[channel] = origin
        self._on_channel(channel)
        self.local.deliver(channel, texts.split("\n"))  # compact JSON never holds a raw newline
