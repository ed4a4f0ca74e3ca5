"""System checks: catch the deployments where stamps or redirects silently fail.

========================  ====================================================
``ticketoffice.W001``     ``TICKETOFFICE_CACHE`` names no alias of ``CACHES``.
``ticketoffice.W002``     The stamp cache is per process (local memory) while
                          the database is shared (not SQLite).
``ticketoffice.W003``     The redirect is on but there is no session middleware.
``ticketoffice.W004``     The stamp cache sets ``IGNORE_EXCEPTIONS``.
``ticketoffice.W005``     ``TICKETOFFICE_CACHE_FAILURE`` is not "db" or "closed".
``ticketoffice.W006``     ``TICKETOFFICE_PASSWORD_GENERATOR`` is malformed.
``ticketoffice.W007``     ``TICKETOFFICE_URLS`` is not {"place:purpose": name}.
``ticketoffice.W008``     A duration setting is not a positive number.
``ticketoffice.W009``     Another setting has the wrong type.
``ticketoffice.W010``     An unknown ``TICKETOFFICE_*`` setting (a typo?).
========================  ====================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from . import redis_clients
from .conf import DEFAULTS, app_settings

TAG = "ticketoffice"
SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


def _warning(number: int, msg: str, hint: str, obj: Any = None) -> checks.Warning:
    return checks.Warning(msg, hint=hint, obj=obj, id=f"ticketoffice.W{number:03d}")


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
    """W001, W002, W004: the stamp cache exists, is shared, and reports its failures."""
    if app_settings.REDIS is not None:
        return []  # the stamps have their own Redis; the cache alias is not used
    alias = app_settings.CACHE
    caches_setting = getattr(settings, "CACHES", {}) or {}
    if not isinstance(alias, str) or alias not in caches_setting:
        return [
            _warning(
                1,
                f"TICKETOFFICE_CACHE names the cache alias {alias!r}, which is not in CACHES.",
                "Add that alias to CACHES (ideally a django-redis cache) or set "
                "TICKETOFFICE_CACHE to an existing alias. Until then the stamp store cannot "
                "open its cache.",
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
                    f"The ticket stamp cache {alias!r} is a local-memory cache, but the "
                    f"database {shared[0]!r} is shared between processes.",
                    "Each process would only see its own used/revoked stamps, so the cache "
                    "saves no database query in other processes. Point TICKETOFFICE_CACHE at "
                    "a shared cache such as django-redis.",
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
                f"The ticket stamp cache {alias!r} sets IGNORE_EXCEPTIONS.",
                "Tickets stay safe (the database decides), and with django-redis the stamp "
                "store reads through the raw client, which still reports failures. Through "
                "the cache API, though, ignored exceptions read as misses, which hides an "
                "outage from the circuit breaker and from TICKETOFFICE_CACHE_FAILURE="
                "'closed'. Give TICKETOFFICE_CACHE its own alias without IGNORE_EXCEPTIONS.",
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
            "TICKETOFFICE_REDIRECT is on but SessionMiddleware is not in MIDDLEWARE.",
            "Without sessions the credential stays in the URL (history, logs, Referer) and the "
            "view runs directly. Add django.contrib.sessions.middleware.SessionMiddleware, or "
            "set TICKETOFFICE_REDIRECT = False to say this is intended.",
        )
    ]


def _is_positive_number(value: Any, *, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int) and value > 0
    return isinstance(value, (int, float)) and value > 0


def _generator_problem(value: Any) -> str | None:
    if not (isinstance(value, (tuple, list)) and len(value) == 3):
        return "it is not a 3-tuple (dotted_path, args, kwargs)"
    path, args, kwargs = value
    if not isinstance(path, str) or not isinstance(args, (list, tuple)):
        return "the path must be a string and args a list or tuple"
    if not isinstance(kwargs, dict):
        return "kwargs must be a dict"
    if not callable(_import_or_none(path)):
        return f"{path!r} does not import a callable"
    return None


def _urls_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"it is a {type(value).__name__}, not a dict"
    for key, name in value.items():
        if not isinstance(key, str) or ":" not in key:
            return f'the key {key!r} is not "place:purpose"'
        if not isinstance(name, str) or not name:
            return f"the value of {key!r} is not a URL name or path"
    return None


# Setting -> (test, expected type, in words).
_TYPED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "TOKEN_PARAMETER": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "REDIRECT": (lambda v: isinstance(v, bool), "True or False"),
    "CACHE": (lambda v: isinstance(v, str), "a cache alias (string)"),
    "REDIS": (
        lambda v: redis_clients.setting_problem(v) is None,
        'None, a redis:// URL, or a dict with "URL", "CLUSTER" or "SENTINELS"',
    ),
    "CACHE_KEY_PREFIX": (lambda v: isinstance(v, str), "a string"),
    "BASE_URL": (
        lambda v: v is None or (isinstance(v, str) and v.startswith(("https://", "http://"))),
        'None or an absolute URL such as "https://example.com"',
    ),
    "SECRET_KEY": (lambda v: v is None or (isinstance(v, str) and v != ""), "None or a string"),
    "SECRET_KEY_FALLBACKS": (
        lambda v: isinstance(v, (list, tuple)) and all(isinstance(k, str) for k in v),
        "a list of strings",
    ),
    "REFUSAL_HANDLER": (
        lambda v: v is None or callable(v) or isinstance(v, str),
        "None, a callable or its dotted path",
    ),
}


@checks.register(TAG)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W005-W010: the TICKETOFFICE_* settings have the expected types and values."""
    errors: list[checks.CheckMessage] = []
    failure = app_settings.CACHE_FAILURE
    if failure not in ("db", "closed"):
        errors.append(
            _warning(
                5,
                f"TICKETOFFICE_CACHE_FAILURE is {failure!r}.",
                'Use "db" (the database decides while the cache is down) or "closed" '
                "(refuse with 503 while the cache is down).",
            )
        )
    problem = _generator_problem(app_settings.PASSWORD_GENERATOR)
    if problem:
        errors.append(
            _warning(
                6,
                f"TICKETOFFICE_PASSWORD_GENERATOR is malformed: {problem}.",
                'Use (dotted_path, args, kwargs), e.g. ("secrets.token_urlsafe", [16], {}).',
            )
        )
    problem = _urls_problem(app_settings.URLS)
    if problem:
        errors.append(
            _warning(
                7,
                f"TICKETOFFICE_URLS is malformed: {problem}.",
                'Use a dict such as {"louvre:visit": "louvre"} mapping "place:purpose" to a '
                "URL name or path.",
            )
        )
    durations = (("STAMP_TTL", True), ("CLAIM_TTL", True), ("CACHE_RETRY_INTERVAL", False))
    for name, integer in durations:
        value = getattr(app_settings, name)
        if not _is_positive_number(value, integer=integer):
            kind = "a positive integer" if integer else "a positive number"
            errors.append(
                _warning(
                    8,
                    f"TICKETOFFICE_{name} is {value!r}.",
                    f"Use {kind} of seconds, or remove the setting to use the default "
                    f"({DEFAULTS[name]!r}).",
                )
            )
    for name, (test, expected) in _TYPED.items():
        value = getattr(app_settings, name)
        if not test(value):
            errors.append(
                _warning(
                    9,
                    f"TICKETOFFICE_{name} is {value!r}.",
                    f"Use {expected}, or remove the setting to use the default "
                    f"({DEFAULTS[name]!r}).",
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
                f"{name} is not a django-ticketoffice setting.",
                "Check the spelling; the settings are: "
                + ", ".join(f"TICKETOFFICE_{known}" for known in DEFAULTS)
                + ".",
            )
        )
    return errors
