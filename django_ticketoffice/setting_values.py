"""What is wrong with a setting's value, in words: the tests behind the settings checks.

Each ``*_problem`` function returns a short phrase for a message, or None
when the value is usable. They import what a setting names, but change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .stamps import redis_clients
from .tokens import MAX_TOKEN_LENGTH, token_length


def import_problem(path: str) -> str | None:
    """Say why ``path`` does not import, in the importer's words; None if it does."""
    try:
        import_string(path)
    except (ImportError, TypeError, ValueError, ImproperlyConfigured) as error:
        return str(error) or type(error).__name__
    return None


def is_positive_number(value: Any, *, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int) and value > 0
    return isinstance(value, (int, float)) and value > 0


def generator_problem(value: Any) -> str | None:
    if not (isinstance(value, (tuple, list)) and len(value) == 3):
        return _("it is not a 3-tuple (dotted_path, args, kwargs)")
    path, args, kwargs = value
    if not isinstance(path, str) or not isinstance(args, (list, tuple)):
        return _("the path must be a string and args a list or tuple")
    if not isinstance(kwargs, dict):
        return _("kwargs must be a dict")
    problem = import_problem(path)
    if problem:
        return _("%(path)s does not import: %(problem)s") % {
            "path": repr(path),
            "problem": problem,
        }
    generator = import_string(path)
    if not callable(generator):
        return _("%(path)s is not callable") % {"path": repr(path)}
    try:
        sample = str(generator(*args, **kwargs))
    except Exception as error:
        return _("calling it raised %(error)s") % {"error": f"{type(error).__name__}: {error}"}
    length = token_length(sample)
    if length > MAX_TOKEN_LENGTH:
        return _(
            "its secrets make tokens of %(length)d characters, over the %(limit)d "
            "that read_token() accepts"
        ) % {"length": length, "limit": MAX_TOKEN_LENGTH}
    return None


def handler_problem(value: Any) -> str | None:
    if value is None or (callable(value) and not isinstance(value, str)):
        return None
    if not isinstance(value, str):
        return _("it is a %(type)s, not a callable or its dotted path") % {
            "type": type(value).__name__
        }
    problem = import_problem(value)
    if problem:
        return _("%(path)s does not import: %(problem)s") % {
            "path": repr(value),
            "problem": problem,
        }
    if not callable(import_string(value)):
        return _("%(path)s is not callable") % {"path": repr(value)}
    return None


def base_url_problem(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme not in ("http", "https") or not parts.netloc


def urls_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return _("it is a %(type)s, not a dict") % {"type": type(value).__name__}
    for key, name in value.items():
        if not isinstance(key, str) or ":" not in key:
            return _('the key %(key)s is not "place:purpose"') % {"key": repr(key)}
        if not isinstance(name, str) or not name:
            return _("the value of %(key)s is not a URL name or path") % {"key": repr(key)}
    return None


def new_link_urls_problem(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return None
    if not isinstance(value, dict):
        return _("it is a %(type)s, not a URL or a dict") % {"type": type(value).__name__}
    for key, url in value.items():
        if not isinstance(key, str) or (key != "*" and ":" not in key):
            return _('the key %(key)s is neither "place:purpose" nor "*"') % {"key": repr(key)}
        if not isinstance(url, str) or not url:
            return _("the value of %(key)s is not a URL name, path or URL") % {"key": repr(key)}
    return None


# Setting -> (test, expected type, in words).
TYPED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "TOKEN_PARAMETER": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "REDIRECT": (lambda v: isinstance(v, bool), "True or False"),
    "CACHE": (lambda v: isinstance(v, str), "a cache alias (string)"),
    "REDIS": (
        lambda v: redis_clients.setting_problem(v) is None,
        'None, a redis:// URL, or a dict with "URL", "CLUSTER" or "SENTINELS"',
    ),
    "CACHE_KEY_PREFIX": (lambda v: isinstance(v, str), "a string"),
    "SECRET_KEY": (lambda v: v is None or (isinstance(v, str) and v != ""), "None or a string"),
    "SECRET_KEY_FALLBACKS": (
        lambda v: isinstance(v, (list, tuple)) and all(isinstance(k, str) for k in v),
        "a list of strings",
    ),
    "MAX_ATTEMPTS": (
        lambda v: (
            isinstance(v, dict)
            and all(
                k in ("code", "password") and type(n) is int and 1 <= n <= 100 for k, n in v.items()
            )
        ),
        'a dict such as {"code": 5, "password": 10}, each limit from 1 to 100 '
        "(NIST SP 800-63B allows at most 100 failed attempts)",
    ),
}
