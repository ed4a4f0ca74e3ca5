"""The stamp store on Redis: the raw client of the primary, Lua for the two-key steps."""

from __future__ import annotations

import logging
import threading
from typing import Any

from . import redis_clients, redis_writes
from .store import PIPELINE_BATCH, StampStore

logger = logging.getLogger("django_ticketoffice.stamps")

# DECR only a counter that still exists: a missing key must not come back
# negative and without a TTL.
_DECR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""

# One round trip before a stamped view: the stamp if there is one, else the
# claim, taken only if free. Returns the stamp, or 1 (taken) or 0 (held).
CHECK_AND_CLAIM = """
local stamp = redis.call('GET', KEYS[1])
if stamp then return stamp end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 1 end
return 0
"""


# A stamp written back from the database, refused while a claim is in flight.
SET_UNLESS_CLAIMED = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
return 0
"""


class RedisStampStore(StampStore):
    """Stamps through the raw client of the Redis primary: plain bytes, no pickle.

    The client comes from ``source`` once, on first use (a cluster client
    contacts the cluster when it is built, so that happens behind the breaker),
    and is then kept for the life of the process: its pool reconnects by itself.
    Every command names keys of one ticket only, so each goes to one cluster node.
    """

    def __init__(self, alias: str, source: redis_clients.PrimarySource) -> None:
        super().__init__(alias)
        self.label = source.label
        self._source = source
        self._redis: Any = None
        self._connect_lock = threading.Lock()
        self._scripts: dict[str, Any] = {}
        # Whether the server leaves stamp writes unanswered: None until the first
        # write finds out; False for clients that route commands themselves.
        self._skip_replies: bool | None = None
        # A single-server redis-py client: lookups go straight to its pool.
        self._pooled = False

    def _client(self) -> Any:
        client = self._redis
        if client is None:
            with self._connect_lock:
                if self._redis is None:
                    self._redis = self._source.connect()
                    # Not a client bound to one connection of its own.
                    self._pooled = redis_writes.eligible(self._redis) and (
                        getattr(self._redis, "connection", None) is None
                    )
                    if not self._pooled:
                        self._skip_replies = False
                client = self._redis
        return client

    def _get(self, key: str) -> Any:
        client = self._client()
        if self._pooled:
            # The lookup runs before every check of a token: the pool directly.
            return redis_clients.run_command(client, "GET", key)
        return client.get(key)

    def _set_many(self, items: list[tuple[str, int]], state: str, released: list[str]) -> None:
        value = state.encode("ascii")
        client = self._client()
        if self._skip_replies is not False and len(items) + len(released) <= PIPELINE_BATCH:
            # Nobody reads these replies: do not wait for them (see redis_writes).
            writes: list[tuple[Any, ...]] = [
                ("SET", key, value, "EX", ttl, "NX") for key, ttl in items
            ]
            writes += [("DEL", key) for key in released]
            if self._skip_replies:
                redis_writes.write_without_replies(client, writes)
            else:
                self._skip_replies = redis_writes.write_and_probe(client, writes)
            return
        if len(items) == 1 and not released:
            key, ttl = items[0]
            client.set(key, value, ex=ttl, nx=True)
            return
        # One DEL per key: a multi-key DEL across tickets would cross cluster slots.
        commands: list[tuple[str, int | None]] = [*items, *((key, None) for key in released)]
        for start in range(0, len(commands), PIPELINE_BATCH):
            pipe = client.pipeline(transaction=False)
            for name, lifetime in commands[start : start + PIPELINE_BATCH]:
                if lifetime is None:
                    pipe.delete(name)
                else:
                    pipe.set(name, value, ex=lifetime, nx=True)
            pipe.execute()

    def _add(self, key: str, ttl: int) -> bool:
        return bool(self._client().set(key, b"1", ex=ttl, nx=True))

    def _script(self, client: Any, name: str, source: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            # EVALSHA, with redis-py loading the script again after a NOSCRIPT.
            script = self._scripts[name] = client.register_script(source)
        return script

    def _check_and_add(self, key: str, claim_key: str, ttl: int) -> tuple[Any, bool]:
        client = self._client()
        script = self._script(client, "check_and_claim", CHECK_AND_CLAIM)
        # Both keys share the {uuid} hash tag: one Redis Cluster slot.
        result = script(keys=[key, claim_key], args=[ttl], client=client)
        if isinstance(result, bytes):
            return result, False
        return None, bool(result)

    def _set_unless_claimed(self, key: str, claim_key: str, state: str, ttl: int) -> None:
        client = self._client()
        script = self._script(client, "set_unless_claimed", SET_UNLESS_CLAIMED)
        script(keys=[key, claim_key], args=[state.encode("ascii"), ttl], client=client)

    def _delete(self, *keys: str) -> None:
        # The keys of one ticket: one slot, one DEL.
        self._client().delete(*keys)

    def _put(self, key: str, value: str, ttl: int) -> None:
        self._client().set(key, value.encode("ascii"), ex=ttl)

    def _incr(self, key: str, ttl: int) -> int:
        # One round trip, one slot: MULTI INCR EXPIRE EXEC. The TTL follows the
        # ticket's remaining lifetime on every guess.
        pipe = self._client().pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, ttl)
        count, _ = pipe.execute()
        return int(count)

    def _decr(self, key: str) -> None:
        self._client().eval(_DECR_EXISTING, 1, key)

    def _drop_connections(self) -> None:
        # Sockets to a killed or restarted server fail once each; drop them all
        # now so that the first try after the retry interval reconnects.
        if self._redis is None:
            return
        if self._skip_replies:
            self._skip_replies = None  # the server may have changed: probe again
        try:
            redis_clients.drop_idle_connections(self._redis)
        except Exception:
            logger.debug("Could not reset the connections of %r.", self.label, exc_info=True)

    def close(self) -> None:
        """Close the connections of a client this store built itself."""
        if self._redis is not None and self._source.owned:
            try:
                redis_clients.close(self._redis)
            except Exception:
                logger.debug("Could not close the connections of %r.", self.label, exc_info=True)
        self._redis = None
