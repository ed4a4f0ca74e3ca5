"""Final refusals kept in process memory: replays and revocations answered with no I/O.

Only states that can never revert are kept: "revoked", and "used" once a use
has committed (for a multi-use ticket: once it is exhausted). A "used" that a
request writes back while another request's claim is in flight could revert
if that claim is undone, so the stamp store refuses such a write in Redis
while the claim key exists, atomically. Entries expire after
``TICKETOFFICE_LOCAL_STAMP_TTL`` seconds and the oldest go first beyond
``TICKETOFFICE_LOCAL_STAMPS`` entries, so memory stays bounded and any stale
entry (see docs/design.rst) lives a short while only.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict


class LocalStamps:
    """A bounded, expiring map of ticket uuid to a final refusal state."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size = max(0, int(size))
        self.ttl = float(ttl)
        self._entries: OrderedDict[uuid.UUID, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ticket_uuid: uuid.UUID) -> str | None:
        """The final state of a ticket, if this process knows it."""
        entry = self._entries.get(ticket_uuid)
        if entry is None:
            return None
        state, expires = entry
        if expires < time.monotonic():
            self.discard(ticket_uuid)
            return None
        return state

    def put(self, ticket_uuid: uuid.UUID, state: str) -> None:
        """Remember a final state for ``ttl`` seconds."""
        if not self.size:
            return
        with self._lock:
            self._entries[ticket_uuid] = (state, time.monotonic() + self.ttl)
            self._entries.move_to_end(ticket_uuid)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def discard(self, ticket_uuid: uuid.UUID) -> None:
        """Forget a ticket (its claim was undone here)."""
        with self._lock:
            self._entries.pop(ticket_uuid, None)

    def __len__(self) -> int:
        return len(self._entries)
