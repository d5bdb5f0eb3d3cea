"""Channel ownership (I/O): one process at a time runs a channel, holding a lease in Redis.

A lease is a key holding the owner's process id with a short expiry (``SET NX PX``), renewed
while the owner lives. When the owner dies, its lease expires and a process with viewers of the
channel takes it, continuing from the snapshot the owner kept in Redis. Each check-and-change
is one Lua script, so two processes never both believe they own a channel for longer than one
expiry.
"""

from __future__ import annotations

from redis.asyncio import Redis

from streamer.server.redis_fanout import lease_key, state_key

# Takeover after an owner's death takes at most LEASE_MS + WATCH_MS (plus a Redis round trip).
LEASE_MS = 1500  # a lease not renewed for this long is free
RENEW_MS = 500  # the owner renews this often: two renewals may fail (a stalled loop) before it loses
WATCH_MS = 250  # processes with viewers look for a free lease this often

# Take the lease if it is free; with ARGV[3] == "1", only when the channel's state exists
# (a process with viewers continues a channel, it never starts one afresh).
_ACQUIRE = """
if ARGV[3] == "1" and redis.call('exists', KEYS[2]) == 0 then return 0 end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
# Extend our lease; take it again if it vanished (Redis restarted, or it expired while we
# stalled and nobody took it); 0 when another process holds it.
_RENEW = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not holder then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  if ARGV[2] == "1" then redis.call('del', KEYS[2]) end
  return 1
end
return 0
"""


class Leases:
    """This process's side of the channel leases."""

    def __init__(self, redis: Redis, process_id: str) -> None:
        self.redis, self.process_id = redis, process_id
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def owner(self, name: str) -> str | None:
        """The process holding ``name``'s lease, if any."""
        holder = await self.redis.get(lease_key(name))
        return None if holder is None else str(holder)

    async def acquire(self, name: str, *, only_if_state: bool = False) -> bool:
        """Take ``name``'s lease if it is free (and, ``only_if_state``, the channel has a snapshot)."""
        args: list[str | int] = [self.process_id, LEASE_MS, "1" if only_if_state else "0"]
        return bool(await self._acquire(keys=[lease_key(name), state_key(name)], args=args))

    async def renew(self, names: list[str]) -> list[str]:
        """Renew the leases of ``names``; returns those another process holds now (lost)."""
        if not names:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                await self._renew(keys=[lease_key(name)], args=[self.process_id, LEASE_MS], client=pipe)
            held = await pipe.execute()
        return [name for name, ok in zip(names, held, strict=True) if not ok]

    async def release(self, name: str, *, forget: bool) -> None:
        """Give up ``name``; ``forget`` its state too (the channel was removed, not handed over)."""
        await self._release(keys=[lease_key(name), state_key(name)], args=[self.process_id, "1" if forget else "0"])
