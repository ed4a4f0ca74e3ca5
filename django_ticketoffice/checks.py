"""System checks: misconfigurations fail at start-up, not on the first request.

Errors stop ``runserver``, ``migrate`` and ``check``: each names a setting that
would break every request of some kind. Warnings name what still works, worse.

========================  ====================================================
``ticketoffice.E001``     ``TICKETOFFICE_CACHE`` names no alias of ``CACHES``.
``ticketoffice.E002``     ``TICKETOFFICE_PASSWORD_GENERATOR`` is malformed.
``ticketoffice.E003``     ``TICKETOFFICE_REFUSAL_HANDLER`` does not import a
                          callable.
``ticketoffice.E004``     ``TICKETOFFICE_BASE_URL`` is not an absolute
                          ``http(s)://`` URL.
``ticketoffice.E005``     ``TICKETOFFICE_DEFAULT_LIFETIME`` is not a positive
                          duration or None.
``ticketoffice.W002``     The stamp cache is per process (local memory) while
                          the database is shared (not SQLite).
``ticketoffice.W003``     The redirect is on but there is no session middleware.
``ticketoffice.W004``     The stamp cache sets ``IGNORE_EXCEPTIONS``.
``ticketoffice.W005``     ``TICKETOFFICE_CACHE_FAILURE`` is not "db" or "closed".
``ticketoffice.W007``     ``TICKETOFFICE_URLS`` is not {"place:purpose": name}.
``ticketoffice.W008``     A duration setting is not a positive number.
``ticketoffice.W009``     Another setting has the wrong type.
``ticketoffice.W010``     An unknown ``TICKETOFFICE_*`` setting (a typo?).
``ticketoffice.W011``     ``TICKETOFFICE_NEW_LINK_URLS`` is malformed.
========================  ====================================================

W001 and W006 of earlier versions are now E001 and E002.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from . import setting_values
from .conf import DEFAULTS, app_settings
from .utils import as_lifetime

TAG = "ticketoffice"
SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


def _warning(number: int, msg: str, hint: str, obj: Any = None) -> checks.Warning:
    return checks.Warning(msg, hint=hint, obj=obj, id=f"ticketoffice.W{number:03d}")


def _error(number: int, msg: str, hint: str, obj: Any = None) -> checks.Error:
    return checks.Error(msg, hint=hint, obj=obj, id=f"ticketoffice.E{number:03d}")


def _import_or_none(path: Any) -> Any:
    try:
        return import_string(path)
    except (ImportError, TypeError, ValueError, ImproperlyConfigured):
        return None


def _vendor(database: Any) -> str:
    engine = str(database.get("ENGINE", ""))
    wrapper = _import_or_none(f"{engine}.base.DatabaseWrapper")
    return str(getattr(wrapper, "vendor", "sqlite" if "sqlite" in engine else engine))


@checks.register(TAG, checks.Tags.caches)
def check_cache(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E001, W002, W004: the stamp cache exists, is shared, and reports its failures."""
    if app_settings.REDIS is not None:
        return []  # the stamps have their own Redis; the cache alias is not used
    alias = app_settings.CACHE
    caches_setting = getattr(settings, "CACHES", {}) or {}
    if not isinstance(alias, str) or alias not in caches_setting:
        return [
            _error(
                1,
                _("TICKETOFFICE_CACHE names the cache alias %(alias)s, which is not in CACHES.")
                % {"alias": repr(alias)},
                _(
                    "Every request with a ticket would fail with a server error. Add that "
                    "alias to CACHES (ideally a django-redis cache), or set TICKETOFFICE_CACHE "
                    "to one of: %(aliases)s."
                )
                % {"aliases": ", ".join(repr(name) for name in caches_setting) or "'default'"},
            )
        ]
    errors: list[checks.CheckMessage] = []
    config = caches_setting[alias]
    if not isinstance(config, dict):
        # Django itself reports a malformed CACHES entry; nothing more to say here.
        return []
    backend = _import_or_none(config.get("BACKEND", ""))
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(backend, type) and issubclass(backend, LocMemCache):
        shared = [name for name, db in settings.DATABASES.items() if _vendor(db) != "sqlite"]
        if shared:
            errors.append(
                _warning(
                    2,
                    _(
                        "The ticket stamp cache %(alias)s is a local-memory cache, but the "
                        "database %(database)s is shared between processes."
                    )
                    % {"alias": repr(alias), "database": repr(shared[0])},
                    _(
                        "Each process would only see its own used/revoked stamps, so the cache "
                        "saves no database query in other processes. Point TICKETOFFICE_CACHE "
                        "at a shared cache such as django-redis."
                    ),
                )
            )
    options = config.get("OPTIONS") or {}
    if options.get("IGNORE_EXCEPTIONS") or (
        getattr(settings, "DJANGO_REDIS_IGNORE_EXCEPTIONS", False)
        and "django_redis" in str(config.get("BACKEND", ""))
    ):
        errors.append(
            _warning(
                4,
                _("The ticket stamp cache %(alias)s sets IGNORE_EXCEPTIONS.")
                % {"alias": repr(alias)},
                _(
                    "Tickets stay safe (the database decides), and with django-redis the stamp "
                    "store reads through the raw client, which still reports failures. Through "
                    "the cache API, though, ignored exceptions read as misses, which hides an "
                    "outage from the circuit breaker and from TICKETOFFICE_CACHE_FAILURE="
                    "'closed'. Give TICKETOFFICE_CACHE its own alias without IGNORE_EXCEPTIONS."
                ),
            )
        )
    return errors


@checks.register(TAG)
def check_session(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W003: redirecting credentials into the session needs the session middleware."""
    if not app_settings.REDIRECT:
        return []
    session_middleware = import_string(SESSION_MIDDLEWARE)
    for path in getattr(settings, "MIDDLEWARE", None) or []:
        middleware = _import_or_none(path)
        if path == SESSION_MIDDLEWARE or (
            isinstance(middleware, type) and issubclass(middleware, session_middleware)
        ):
            return []
    return [
        _warning(
            3,
            _("TICKETOFFICE_REDIRECT is on but SessionMiddleware is not in MIDDLEWARE."),
            _(
                "Without sessions the credential stays in the URL (history, logs, Referer) and "
                "the view runs directly. Add django.contrib.sessions.middleware."
                "SessionMiddleware, or set TICKETOFFICE_REDIRECT = False to say this is intended."
            ),
        )
    ]


def _fatal_setting_errors() -> list[checks.CheckMessage]:
    """E002-E005: settings without which issuing, refusing or linking always fails."""
    errors: list[checks.CheckMessage] = []
    problem = setting_values.generator_problem(app_settings.PASSWORD_GENERATOR)
    if problem:
        errors.append(
            _error(
                2,
                _("TICKETOFFICE_PASSWORD_GENERATOR is malformed: %(problem)s.")
                % {"problem": problem},
                _(
                    "Every issue() would fail. Use (dotted_path, args, kwargs), e.g. "
                    '("secrets.token_urlsafe", [16], {}), or remove the setting.'
                ),
            )
        )
    problem = setting_values.handler_problem(app_settings.REFUSAL_HANDLER)
    if problem:
        errors.append(
            _error(
                3,
                _("TICKETOFFICE_REFUSAL_HANDLER is unusable: %(problem)s.") % {"problem": problem},
                _(
                    "Every refusal would be a server error. Give the dotted path of a "
                    "handler(request, error) -> HttpResponse, such as "
                    '"django_ticketoffice.views.refuse", or remove the setting.'
                ),
            )
        )
    base_url = app_settings.BASE_URL
    if setting_values.base_url_problem(base_url):
        errors.append(
            _error(
                4,
                _("TICKETOFFICE_BASE_URL is %(value)s, which is not an absolute URL.")
                % {"value": repr(base_url)},
                _(
                    "Every one-link URL would be broken. Give the scheme and host, e.g. "
                    '"https://example.com", or None for links relative to the site.'
                ),
            )
        )
    try:
        as_lifetime(app_settings.DEFAULT_LIFETIME)
    except ValueError as error:
        errors.append(
            _error(
                5,
                _("TICKETOFFICE_DEFAULT_LIFETIME is unusable: %(problem)s.")
                % {"problem": str(error)},
                _(
                    "The admin and ticketoffice_issue could not issue tickets. Use a positive "
                    "timedelta such as timedelta(days=7), a number of seconds, or None for "
                    "tickets that never expire."
                ),
            )
        )
    return errors


@checks.register(TAG)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E002-E005 and W005-W011: the TICKETOFFICE_* settings have usable values."""
    errors = _fatal_setting_errors()
    failure = app_settings.CACHE_FAILURE
    if failure not in ("db", "closed"):
        errors.append(
            _warning(
                5,
                _("TICKETOFFICE_CACHE_FAILURE is %(value)s.") % {"value": repr(failure)},
                _(
                    'Use "db" (the database decides while the cache is down) or "closed" '
                    "(refuse with 503 while the cache is down)."
                ),
            )
        )
    for number, name, finder, example in (
        (7, "URLS", setting_values.urls_problem, '{"louvre:visit": "louvre"}'),
        (
            11,
            "NEW_LINK_URLS",
            setting_values.new_link_urls_problem,
            '{"louvre:visit": "ask-again", "*": "/"}',
        ),
    ):
        problem = finder(getattr(app_settings, name))
        if problem:
            errors.append(
                _warning(
                    number,
                    _("TICKETOFFICE_%(name)s is malformed: %(problem)s.")
                    % {"name": name, "problem": problem},
                    _(
                        'Use a dict such as %(example)s mapping "place:purpose" to a URL name '
                        "or path."
                    )
                    % {"example": example},
                )
            )
    durations = (("STAMP_TTL", True), ("CLAIM_TTL", True), ("CACHE_RETRY_INTERVAL", False))
    for name, integer in durations:
        value = getattr(app_settings, name)
        if not setting_values.is_positive_number(value, integer=integer):
            kind = _("a positive integer") if integer else _("a positive number")
            errors.append(
                _warning(
                    8,
                    _("TICKETOFFICE_%(name)s is %(value)s.") % {"name": name, "value": repr(value)},
                    _(
                        "Use %(kind)s of seconds, or remove the setting to use the default "
                        "(%(default)s)."
                    )
                    % {"kind": kind, "default": repr(DEFAULTS[name])},
                )
            )
    for name, (test, expected) in setting_values.TYPED.items():
        value = getattr(app_settings, name)
        if not test(value):
            errors.append(
                _warning(
                    9,
                    _("TICKETOFFICE_%(name)s is %(value)s.") % {"name": name, "value": repr(value)},
                    _("Use %(expected)s, or remove the setting to use the default (%(default)s).")
                    % {"expected": expected, "default": repr(DEFAULTS[name])},
                )
            )
    unknown = sorted(
        name
        for name in dir(settings)
        if name.startswith("TICKETOFFICE_") and name[len("TICKETOFFICE_") :] not in DEFAULTS
    )
    for name in unknown:
        errors.append(
            _warning(
                10,
                _("%(name)s is not a django-ticketoffice setting.") % {"name": name},
                _("Check the spelling; the settings are: %(names)s.")
                % {"names": ", ".join(f"TICKETOFFICE_{known}" for known in DEFAULTS)},
            )
        )
    return errors
