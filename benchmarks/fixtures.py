"""What the measures consume: tickets, invitations, users and fresh clients.

Tickets are made with the library's public API only (``Ticket.objects.issue``,
``Ticket(...)`` + ``set_password``, ``use()``, ``revoke()``, ``read_token``),
because its internals change under these benchmarks.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db import router, transaction
from django.test import Client
from django.utils import timezone

from django_ticketoffice.models import Ticket
from django_ticketoffice.tokens import read_token

from .views import PLACE, PURPOSE

LIFETIME = timedelta(hours=2)

_handler: Any = None


def fresh_client() -> Client:
    """A new test client: an empty cookie jar, so every flow starts a new session.

    It shares one request handler with every other client, as a server process
    does: a new handler would load the middleware again on its first request,
    and that constant would dilute every ratio.
    """
    global _handler
    client = Client()
    if _handler is None:
        _handler = client.handler
    client.handler = _handler
    return client


def _one_commit():
    """One transaction around a batch of preparations: one commit, not one per ticket."""
    return transaction.atomic(using=router.db_for_write(Ticket))


def issue(count: int, *, place: str = PLACE, lifetime: timedelta = LIFETIME) -> list[str]:
    """Issue ``count`` tickets; return their tokens."""
    with _one_commit():
        return [Ticket.objects.issue(place, PURPOSE, lifetime=lifetime)[1] for _ in range(count)]


def issue_multi_use(count: int, *, max_uses: int = 3) -> list[str]:
    """Issue ``count`` tickets of ``max_uses`` uses each; return their tokens."""
    with _one_commit():
        return [
            Ticket.objects.issue(PLACE, PURPOSE, lifetime=LIFETIME, max_uses=max_uses)[1]
            for _ in range(count)
        ]


def issue_with_code(count: int) -> list[tuple[str, str]]:
    """Issue ``count`` tickets with a short code; return ``(uuid, code)`` pairs."""
    pairs = []
    with _one_commit():
        for _ in range(count):
            ticket, _token, code = Ticket.objects.issue_with_code(PLACE, PURPOSE, lifetime=LIFETIME)
            pairs.append((str(ticket.uuid), code))
    return pairs


def secrets_of(tokens: list[str]) -> list[tuple[str, str]]:
    """0.2's credentials of tokens: ``(uuid, secret)`` pairs."""
    pairs = []
    for token in tokens:
        credentials = read_token(token, PLACE, PURPOSE)
        pairs.append((str(credentials.uuid), credentials.secret))
    return pairs


class Pbkdf2Tickets:
    """0.2's design: tickets whose secret went through ``set_password`` (PBKDF2).

    Hashing costs as much as checking, so one hash made with ``set_password``
    is stored in every ticket: each check still runs the full PBKDF2.
    """

    def __init__(self) -> None:
        sample = Ticket(place=PLACE, purpose=PURPOSE)
        self.secret = uuid.uuid4().hex
        sample.set_password(self.secret)
        self.encoded = sample.password

    def __call__(self, count: int) -> list[tuple[str, str]]:
        expiry = timezone.now() + LIFETIME
        pairs = []
        with _one_commit():
            for _ in range(count):
                ticket = Ticket(place=PLACE, purpose=PURPOSE, expiry_datetime=expiry)
                ticket.password = self.encoded
                ticket.save()
                pairs.append((str(ticket.uuid), self.secret))
        return pairs


def sesame_tokens(count: int) -> list[str]:
    """Fresh users and their django-sesame one-time tokens."""
    from django.contrib.auth import get_user_model
    from sesame.utils import get_token

    user_model = get_user_model()
    stamp = uuid.uuid4().hex[:12]
    users = user_model.objects.bulk_create(
        [user_model(username=f"bench-{stamp}-{i}", password="!") for i in range(count)]
    )
    return [get_token(user) for user in users]


def used_token() -> str:
    """A token whose ticket was used (autocommit: its stamp is in Redis now)."""
    token = issue(1)[0]
    credentials = read_token(token, PLACE, PURPOSE)
    Ticket.objects.get(uuid=credentials.uuid).use()
    return token


def revoked_token() -> str:
    """A token whose ticket was revoked (its stamp is in Redis now)."""
    token = issue(1)[0]
    credentials = read_token(token, PLACE, PURPOSE)
    Ticket.objects.get(uuid=credentials.uuid).revoke()
    return token


def expired_token() -> str:
    """A token whose signed expiry has passed."""
    past = timezone.now() - timedelta(hours=1)
    return Ticket.objects.issue(PLACE, PURPOSE, expiry_datetime=past)[1]


def forged(token: str) -> str:
    """Same length and alphabet, wrong signature: the worst case of a forgery."""
    value, _, signature = token.rpartition(".")
    flipped = "A" if signature[0] != "A" else "B"
    return f"{value}.{flipped}{signature[1:]}"


def forged_sesame(token: str) -> str:
    """A django-sesame token with one character of its signature changed.

    Not the last character: base64 ignores its spare bits.
    """
    flipped = "A" if token[-3] != "A" else "B"
    return f"{token[:-3]}{flipped}{token[-2:]}"
