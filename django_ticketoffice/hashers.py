"""Hashing of ticket secrets.

Generated secrets carry at least 128 random bits, so a single SHA-256 is as
strong as a slow password hash against guessing, and costs about a
microsecond instead of hundreds of milliseconds (a slow hash on every request
would hand attackers a CPU denial-of-service lever). Passwords that a person
chose through :meth:`Ticket.set_password` may be weak, so they keep Django's
``make_password`` and its configured hashers.
"""

from __future__ import annotations

import hashlib
import hmac

from django.contrib.auth.hashers import check_password as django_check_password
from django.contrib.auth.hashers import make_password

ALGORITHM = "ticketoffice_sha256"
PREFIX = ALGORITHM + "$"


def hash_secret(raw: str) -> str:
    """Return the stored form of a generated, high-entropy secret."""
    return PREFIX + hashlib.sha256(raw.encode()).hexdigest()


def check_secret(raw: str | None, encoded: str) -> bool:
    """Tell whether ``raw`` matches ``encoded``, in constant time for fast hashes."""
    if raw is None or not encoded:
        return False
    if encoded.startswith(PREFIX):
        expected = hashlib.sha256(raw.encode(errors="surrogatepass")).hexdigest()
        return hmac.compare_digest(expected, encoded[len(PREFIX) :])
    try:
        # No setter: verifying a ticket must not rewrite it as a side effect.
        return django_check_password(raw, encoded)
    except UnicodeEncodeError:
        # Lone surrogates cannot be encoded, so no stored password can match them.
        return False


def is_fast(encoded: str) -> bool:
    """Tell whether ``encoded`` is a fast hash of a generated secret."""
    return encoded.startswith(PREFIX)


def spend_like_a_check(raw: str) -> None:
    """Spend what a failed check of a chosen password costs, and nothing else.

    Run once per failed 0.2 password check that did not already run a slow
    hasher (unknown uuid, wrong place, generated secret), so that the time of
    a refusal does not tell which uuids exist, as Django's ModelBackend does
    for unknown users.
    """
    # Lone surrogates cannot go through a hasher; their bytes cost the same.
    make_password(raw.encode("utf-8", "surrogatepass").decode("latin-1"))
