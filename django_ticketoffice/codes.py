"""Short codes beside the link: a few decimal digits that redeem the same ticket.

A code is drawn with :mod:`secrets` and stored only as HMAC-SHA256 under a key
derived from the signing keys (:func:`~django_ticketoffice.tokens.code_keys`),
bound to the ticket's uuid. A plain hash of six digits is reversed in a million
tries once a table leaks; a keyed one needs the ``SECRET_KEY`` too. Guessing
online is bounded per ticket by :mod:`django_ticketoffice.attempts`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Any

from .exceptions import CredentialsError
from .tokens import code_keys

MIN_DIGITS = 6
MAX_DIGITS = 10
# People type codes with spaces or hyphens in them ("123 456", "123-456").
_SEPARATORS = str.maketrans("", "", " -\u00a0")


def make_code(digits: int = MIN_DIGITS) -> str:
    """Return a fresh code of ``digits`` decimal digits (6 to 10), leading zeros kept."""
    if isinstance(digits, bool) or not isinstance(digits, int):
        raise TypeError("digits must be an integer.")
    if not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise ValueError(f"A code has {MIN_DIGITS} to {MAX_DIGITS} digits, not {digits}.")
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def hash_code(ticket_uuid: uuid.UUID, code: str, key: bytes | None = None) -> str:
    """Return the stored form of ``code`` for one ticket: HMAC-SHA256, hex."""
    key = code_keys()[0] if key is None else key
    return hmac.new(key, ticket_uuid.bytes + code.encode("ascii"), hashlib.sha256).hexdigest()


def check_code(ticket_uuid: uuid.UUID, code: str, encoded: str) -> bool:
    """Tell whether ``code`` matches ``encoded``, under the current or an older key.

    Every key is tried and every comparison runs in constant time, so the
    time does not tell which key matched, or how much of the code did.
    """
    if not encoded:
        return False
    matched = False
    for key in code_keys():
        matched |= hmac.compare_digest(hash_code(ticket_uuid, code, key), encoded)
    return matched


def clean_code(value: Any) -> str:
    """Return ``value`` as a code (digits only), or raise :class:`CredentialsError`.

    Spaces and hyphens are dropped. Anything else than 6 to 10 ASCII digits
    is refused before any lookup: it cannot match a code.
    """
    if not isinstance(value, str):
        raise CredentialsError("Invalid code.")
    code = value.translate(_SEPARATORS)
    if not (MIN_DIGITS <= len(code) <= MAX_DIGITS and code.isascii() and code.isdigit()):
        raise CredentialsError("Invalid code.")
    return code
