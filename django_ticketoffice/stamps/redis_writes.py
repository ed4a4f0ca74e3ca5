"""Stamp writes that do not wait for a reply nobody reads.

A stamp written after a commit only speeds up later refusals; nothing reads
its reply. Redis can leave a command unanswered (``CLIENT REPLY SKIP``, Redis
3.2 and later), so the request does not wait a round trip for it. Some
proxies and managed services refuse ``CLIENT``, and an unread error reply
would then answer the connection's next command. So the first write of a
store carries a probe in the same packet (an ``ECHO`` after the commands): if
only the echo comes back, the server skips replies and later writes read
nothing; if not, every pending reply is read and the store keeps waiting for
replies, as a pipeline does. Single-server clients only (Sentinel's master
pool included): a cluster client routes each command itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from .redis_clients import pooled_connection

MARKER = b"ticketoffice:replies-skipped"
SKIP = ("CLIENT", "REPLY", "SKIP")

Command = tuple[Any, ...]


def eligible(client: Any) -> bool:
    """True for a redis-py client on a single connection pool."""
    try:
        from redis import Redis
    except ImportError:  # pragma: no cover - redis-py comes with every Redis backend
        return False
    return isinstance(client, Redis) and hasattr(client, "connection_pool")


def _send(client: Any, commands: Sequence[Command], *, probe: bool) -> bool:
    pool = client.connection_pool
    connection = pooled_connection(pool)
    try:
        packed: list[Command] = []
        for command in commands:
            packed += [SKIP, command]
        if probe:
            packed.append(("ECHO", MARKER))
        connection.send_packed_command(connection.pack_commands(packed))
        if not probe:
            return True
        from redis.exceptions import ResponseError

        try:
            first = connection.read_response()
        except ResponseError:
            first = None
        if first == MARKER:
            return True
        # Not honoured: the replies of CLIENT and of each command, then the echo.
        for _ in range(2 * len(commands)):
            with contextlib.suppress(ResponseError):
                connection.read_response()
        return False
    except BaseException:
        # A half-read connection must not serve another command.
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


def write_and_probe(client: Any, commands: Sequence[Command]) -> bool:
    """Write ``commands`` in one round trip; tell whether the server skips replies."""
    return _send(client, commands, probe=True)


def write_without_replies(client: Any, commands: Sequence[Command]) -> None:
    """Send ``commands`` in one packet and read nothing back."""
    _send(client, commands, probe=False)
