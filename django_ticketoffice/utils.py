"""Small helpers kept from 0.2: random secrets and dotted-path imports."""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta
from typing import Any

from django.utils.module_loading import import_string

ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# No look-alikes (i, l, o, I, O, 0, 1): easier to read aloud or type.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105


def random_unicode(
    min_length: int | None = None,
    max_length: int | None = None,
    alphabet: str = ALPHANUMERIC,
) -> str:
    """Return a random string, uniformly drawn with :mod:`secrets`.

    >>> len(random_unicode(min_length=5, max_length=5))
    5
    """
    if min_length is None and max_length is None:
        raise ValueError("Provide min_length or max_length.")
    if min_length is None:
        min_length = 1
    if max_length is None:
        max_length = min_length
    if min_length < 1:
        raise ValueError("Minimum length is 1.")
    if max_length < min_length:
        raise ValueError("Maximum length must be greater than minimum length.")
    length = min_length + secrets.randbelow(max_length - min_length + 1)
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_password(
    min_length: int = 23, max_length: int = 32, alphabet: str = PASSWORD_ALPHABET
) -> str:
    """Return a random password without look-alike characters.

    The default of 23 characters from 55 symbols carries more than 128 bits.
    """
    return random_unicode(min_length, max_length, alphabet)


def import_member(import_path: str) -> Any:
    """Import and return the object at a dotted path.

    >>> import os.path
    >>> import_member('os.path.supports_unicode_filenames') is os.path.supports_unicode_filenames
    True
    """
    return import_string(import_path)


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: str) -> timedelta:
    """Parse a short duration such as ``90m``, ``2h``, ``3d`` or ``1w``.

    >>> parse_duration("90m")
    datetime.timedelta(seconds=5400)
    """
    match = _DURATION.match(value)
    if not match:
        raise ValueError(
            f"Invalid duration {value!r}: use a positive number and a unit s, m, h, d or w "
            "(for example 90m, 2h or 3d)."
        )
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise ValueError(f"Invalid duration {value!r}: it is too long.") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_json(text: str) -> Any:
    """Parse JSON like :func:`json.loads`, but refuse NaN and Infinity.

    Python accepts them; the JSON columns of PostgreSQL and SQLite do not, so
    they would fail only when the ticket is saved.
    """
    return json.loads(text, parse_constant=_refuse_constant)


def as_lifetime(value: Any) -> timedelta | None:
    """Read a lifetime setting: a timedelta, a number of seconds, or None.

    Raises ValueError for anything else, zero and negative values included.

    >>> as_lifetime(3600)
    datetime.timedelta(seconds=3600)
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise ValueError(f"{value!r} is not a timedelta, a number of seconds or None")
    lifetime = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if lifetime <= timedelta(0):
        raise ValueError(f"{value!r} is not positive")
    return lifetime


def format_duration(value: timedelta) -> str:
    """Write a duration the way :func:`parse_duration` reads it, in its largest exact unit.

    >>> format_duration(timedelta(days=7))
    '1w'
    >>> format_duration(timedelta(minutes=90))
    '90m'
    """
    seconds = round(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
