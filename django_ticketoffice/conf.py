"""Settings of django-ticketoffice, each read lazily with its default.

Every setting is spelt ``TICKETOFFICE_<NAME>`` in the project's settings and
read on access, so ``override_settings`` and late configuration work.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # (dotted path, args, kwargs) of the callable that makes secrets. The 0.2 format.
    # 16 random bytes from ``secrets``: 128 bits, 22 URL-safe characters.
    "PASSWORD_GENERATOR": ("secrets.token_urlsafe", [16], {}),
    # Signing keys. ``None`` means Django's SECRET_KEY and SECRET_KEY_FALLBACKS.
    "SECRET_KEY": None,
    "SECRET_KEY_FALLBACKS": [],
    # Query-string parameter that carries a signed token.
    "TOKEN_PARAMETER": "ticket",
    # Move the credential into the session and redirect to a clean URL.
    "REDIRECT": True,
    # Django cache alias for the used/revoked stamps.
    "CACHE": "default",
    # The stamps' own Redis instead of a cache alias: a URL, or a dict naming a
    # Redis Cluster or Sentinel (see stamps/redis_clients.py). None: use CACHE.
    "REDIS": None,
    "CACHE_KEY_PREFIX": "ticketoffice:",
    # "db": fall back to the database while the cache is down; "closed": refuse (503).
    "CACHE_FAILURE": "db",
    # Seconds the circuit breaker keeps a failed cache out of the request path.
    "CACHE_RETRY_INTERVAL": 5.0,
    # Seconds a stamp lives for a ticket without expiry (30 days).
    "STAMP_TTL": 30 * 24 * 3600,
    # Seconds a fast Redis claim lives while a stamped view runs.
    "CLAIM_TTL": 60,
    # Final refusals (revoked, used) kept in each process's memory: how many, and
    # for how many seconds. 0 entries turns it off.
    "LOCAL_STAMPS": 10_000,
    "LOCAL_STAMP_TTL": 60.0,
    # Absolute base for one-link URLs, e.g. "https://example.com".
    "BASE_URL": None,
    # {"place:purpose": "url-name"}: where the admin and commands point new tickets.
    "URLS": {},
    # Dotted path of ``handler(request, error) -> HttpResponse`` for refusals.
    "REFUSAL_HANDLER": None,
    # Lifetime of tickets issued from the admin and ``ticketoffice_issue`` unless
    # "never expires" is chosen: a timedelta, seconds, or None for no expiry.
    "DEFAULT_LIFETIME": timedelta(days=7),
    # Where a visitor whose link expired, was used or was revoked asks for a new
    # one: a URL name, path or URL, or {"place:purpose": url, "*": url}.
    "NEW_LINK_URLS": None,
    # Failed checks of a guessable credential before its ticket is locked, per kind:
    # short codes and 0.2 passwords. A ticket's own ``max_attempts`` overrides them.
    "MAX_ATTEMPTS": {"code": 5, "password": 10},
    # Optional apps and integrations (django_ticketoffice.contrib), read only by them.
    # contrib.audit: record events; how to keep client IPs ("full", "truncate",
    # "hash" or "drop"); seconds over which refusals and admissions of one ticket
    # are counted in one row.
    "AUDIT_ENABLED": True,
    "AUDIT_IP": "truncate",
    "AUDIT_INTERVAL": 60,
    # contrib.unsubscribe: dotted path of ``unsubscribe(recipient, mailing_list, *, ticket,
    # request)``, when the view is not given a handler.
    "UNSUBSCRIBE_HANDLER": None,
}


class TicketOfficeSettings:
    """Attribute access to the ``TICKETOFFICE_*`` settings, with defaults.

    Each value is read on first access and then kept: a missing setting costs
    Django's settings object an exception on every read, and some are read on
    every request. ``setting_changed`` (``override_settings``) forgets them.
    """

    def __getattr__(self, name: str) -> Any:
        # Called only for a value not read yet: once read, it is an instance
        # attribute, and later reads cost a plain attribute lookup.
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown django-ticketoffice setting {name!r}")
        value = getattr(settings, f"TICKETOFFICE_{name}", DEFAULTS[name])
        self.__dict__[name] = value
        return value

    def reload(self) -> None:
        """Forget the values read so far."""
        self.__dict__.clear()


app_settings = TicketOfficeSettings()


@receiver(setting_changed)
def _reload_settings(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("TICKETOFFICE_"):
        app_settings.reload()
