"""Counting pass: SQL statements and Redis round trips per call of each measure.

SQL comes from Django's ``CaptureQueriesContext`` on every database alias.
Redis is counted at redis-py's connection, below every client layer, so a
leaner client, a pipeline, a Lua script or a reply-less command are all seen:

- a *round trip* is a packet sent that the client then waited on (one or more
  replies read before the next send);
- a *send* is any packet sent (a command whose reply is skipped is a send,
  not a round trip);
- *commands* are counted where redis-py packs them, with their names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from .harness import ContextFactory, Measure


@dataclass
class Counts:
    """I/O of one call of a measure, averaged over the counting pass."""

    calls: int = 0
    sql: float = 0.0
    sql_kinds: dict[str, float] = field(default_factory=dict)
    redis_roundtrips: float = 0.0
    redis_sends: float = 0.0
    redis_commands: float = 0.0
    redis_names: dict[str, float] = field(default_factory=dict)


class RedisSpy:
    """Patches redis-py's connection and serializers while installed."""

    def __init__(self) -> None:
        self.sends = 0
        self.roundtrips = 0
        self.commands = 0
        self.names: Counter[str] = Counter()
        self._awaiting = False

    @contextmanager
    def installed(self) -> Iterator[RedisSpy]:
        from redis import connection

        spy = self
        patches: list[tuple[Any, str, Any]] = []

        def patch(owner: Any, name: str, wrapper: Any) -> None:
            patches.append((owner, name, getattr(owner, name)))
            setattr(owner, name, wrapper)

        original_send = connection.AbstractConnection.send_packed_command
        original_read = connection.AbstractConnection.read_response

        def send_packed_command(self, command, check_health=True):
            spy.sends += 1
            spy._awaiting = True
            return original_send(self, command, check_health)

        def read_response(self, *args, **kwargs):
            if spy._awaiting:
                spy.roundtrips += 1
                spy._awaiting = False
            return original_read(self, *args, **kwargs)

        patch(connection.AbstractConnection, "send_packed_command", send_packed_command)
        patch(connection.AbstractConnection, "read_response", read_response)
        for serializer in _serializers(connection):
            patch(serializer, "pack", _counting_pack(spy, serializer.pack))
        try:
            yield self
        finally:
            for owner, name, original in reversed(patches):
                setattr(owner, name, original)


def _serializers(module: Any) -> list[Any]:
    names = ("PythonRespSerializer", "HiredisRespSerializer")
    return [getattr(module, name) for name in names if hasattr(module, name)]


def _counting_pack(spy: RedisSpy, original: Any) -> Any:
    def pack(self, *args):
        spy.commands += 1
        name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        spy.names[name.upper()] += 1
        return original(self, *args)

    return pack


def sql_kind(sql: str) -> str:
    """SELECT, UPDATE, INSERT, DELETE or OTHER (savepoints, SET, ...)."""
    word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "OTHER"
    return word if word in {"SELECT", "UPDATE", "INSERT", "DELETE"} else "OTHER"


def count(measure: Measure, calls: int, context: ContextFactory = nullcontext) -> Counts:
    """Run ``calls`` calls of a measure under the spies; return the I/O per call.

    ``context`` is the measure's cluster's.
    """
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with context(), measure.context():
        items: Sequence[Any] = measure.prepare(calls + 1)
        # The first call opens connections and fills caches: not counted.
        measure.op(items[0])
        spy = RedisSpy()
        with ExitStack() as stack:
            captures = [
                stack.enter_context(CaptureQueriesContext(connections[alias]))
                for alias in connections
            ]
            stack.enter_context(spy.installed())
            for item in items[1:]:
                measure.op(item)
    queries = [q["sql"] for capture in captures for q in capture.captured_queries]
    kinds = Counter(sql_kind(sql) for sql in queries)
    return Counts(
        calls=calls,
        sql=len(queries) / calls,
        sql_kinds={k: v / calls for k, v in sorted(kinds.items())},
        redis_roundtrips=spy.roundtrips / calls,
        redis_sends=spy.sends / calls,
        redis_commands=spy.commands / calls,
        redis_names={k: v / calls for k, v in sorted(spy.names.items())},
    )
