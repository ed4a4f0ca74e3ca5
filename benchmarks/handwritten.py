"""The floors: the same requests written directly by hand, fixed in advance.

This is the code a team would write with the ORM and one plain Redis client
instead of the library. It never changes with the library and never adds a
term for each statement or round trip the library makes, so a redundant round
trip in the library shows in its ratio.

- :func:`accept`: the whole one-shot flow in one view. The credential request
  (``?uuid=&secret=``) makes one Redis GET, one ORM SELECT by uuid, a hash
  compare, a session write and a redirect to the clean URL; the follow-up
  makes one Redis GET, one ORM SELECT, a conditional ORM UPDATE (the claim)
  and one Redis SET.
- :func:`one_get_forbidden`: one plain Redis GET, then a fixed 403 page (the
  floor of a replayed or revoked credential).
- :func:`forbidden`: a fixed 403 page with no I/O (the floor of a forged,
  truncated, wrong-place or signed-expired credential).
- :func:`check_and_use`: the in-process flow (GET, SELECT, compare, UPDATE, SET).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.utils import timezone

from .models import Invitation

PLACE = "bench"
PURPOSE = "visit"
SESSION_KEY = "invitation"
STAMP_TTL = 30 * 24 * 3600
# The key the one-GET floor reads: it holds a stamp, as a replay's key does.
REPLAY_KEY = f"{settings.BENCH_KEY_PREFIX}hand:{{00000000-0000-0000-0000-000000000000}}"

# A fixed page about the size of ticketoffice/403.html, without any template work.
FORBIDDEN_PAGE = (
    "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Forbidden</title>"
    "</head><body><h1>Forbidden</h1><p>This ticket is not valid.</p></body></html>"
)

_redis: Any = None


def redis() -> Any:
    """The plain redis-py client of the ``default`` cache, looked up once per process."""
    global _redis
    if _redis is None:
        from django_redis import get_redis_connection

        _redis = get_redis_connection("default", write=True)
    return _redis


def stamp_key(invitation_uuid: uuid.UUID | str) -> str:
    return f"{settings.BENCH_KEY_PREFIX}hand:{{{invitation_uuid}}}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(count: int, *, lifetime: timedelta = timedelta(hours=2)) -> list[tuple[str, str]]:
    """Create ``count`` invitations in one INSERT; return their ``(uuid, secret)`` pairs."""
    expires = timezone.now() + lifetime
    pairs = [(uuid.uuid4(), secrets.token_urlsafe(16)) for _ in range(count)]
    Invitation.objects.bulk_create(
        [
            Invitation(
                uuid=u, place=PLACE, purpose=PURPOSE, secret_hash=digest(s), expires_at=expires
            )
            for u, s in pairs
        ]
    )
    return [(str(u), s) for u, s in pairs]


def _valid(invitation: Invitation) -> bool:
    return (
        invitation.used_at is None
        and invitation.revoked_at is None
        and (invitation.expires_at is None or invitation.expires_at >= timezone.now())
        and (invitation.place, invitation.purpose) == (PLACE, PURPOSE)
    )


def _refuse() -> HttpResponse:
    return HttpResponseForbidden(FORBIDDEN_PAGE)


def _load(invitation_uuid: str) -> Invitation | None:
    if redis().get(stamp_key(invitation_uuid)) is not None:
        return None
    try:
        invitation = Invitation.objects.get(uuid=invitation_uuid)
    except (Invitation.DoesNotExist, ValueError):
        return None
    return invitation if _valid(invitation) else None


def _claim(invitation: Invitation) -> bool:
    now = timezone.now()
    claimed = Invitation.objects.filter(
        pk=invitation.pk, used_at__isnull=True, revoked_at__isnull=True
    ).update(used_at=now)
    if claimed:
        redis().set(stamp_key(invitation.uuid), b"used", ex=STAMP_TTL)
    return bool(claimed)


def accept(request):
    """The accept flow: credential request, redirect, then the consuming view."""
    if "uuid" in request.GET:
        invitation = _load(request.GET["uuid"])
        secret = request.GET.get("secret", "")
        if invitation is None or not hmac.compare_digest(digest(secret), invitation.secret_hash):
            return _refuse()
        request.session[SESSION_KEY] = str(invitation.uuid)
        return HttpResponseRedirect(request.path)
    remembered = request.session.get(SESSION_KEY)
    invitation = _load(remembered) if remembered else None
    if invitation is None or not _claim(invitation):
        return _refuse()
    return HttpResponse("welcome")


def one_get_forbidden(request):
    """One plain Redis GET, then a fixed 403."""
    redis().get(REPLAY_KEY)
    return _refuse()


def forbidden(request):
    """A fixed 403, no I/O."""
    return _refuse()


def check_and_use(invitation_uuid: str, secret: str) -> Invitation:
    """In process: refuse a stamped one, load it, compare the hash, claim it, stamp it."""
    invitation = _load(invitation_uuid)
    if invitation is None or not hmac.compare_digest(digest(secret), invitation.secret_hash):
        raise PermissionError("invalid invitation")
    if not _claim(invitation):
        raise PermissionError("invitation already used")
    return invitation
