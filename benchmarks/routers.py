"""Send the ticket table to one database alias at a time, so one run can hold two sizes.

The flatness measures time the same path on the ``default`` database (about a
thousand tickets) and on ``big`` (about a million), interleaved round by
round. Only the library's model moves; the hand-written floor, sessions and
django-sesame's users always stay on ``default``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

TICKET_APP = "django_ticketoffice"
# A child process (clean_tickets on the big table) picks its alias from the environment.
_active = os.environ.get("BENCH_TICKET_ALIAS", "default")


def active_alias() -> str:
    """The alias that holds the ticket table right now."""
    return _active


@contextmanager
def ticket_alias(alias: str) -> Iterator[None]:
    """Route every read and write of tickets to ``alias`` inside the block."""
    global _active
    previous, _active = _active, alias
    try:
        yield
    finally:
        _active = previous


class TicketTableRouter:
    """Tickets go to the active alias; every other model to ``default``."""

    def db_for_read(self, model, **hints):
        return _active if model._meta.app_label == TICKET_APP else "default"

    def db_for_write(self, model, **hints):
        return _active if model._meta.app_label == TICKET_APP else "default"

    def allow_relation(self, obj1, obj2, **hints):
        return None

    def allow_migrate(self, db, app_label, **hints):
        # Both databases get every table: migrations run the same everywhere.
        return True
