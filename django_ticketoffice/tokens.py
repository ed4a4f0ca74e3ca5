"""Signed one-link tokens.

A token packs the ticket's uuid, its expiry and its secret into a few bytes
and signs them with :mod:`itsdangerous`. The salt binds a token to one place
and purpose, so a token minted for one use is a forgery everywhere else.
Everything here is pure computation: reading a token does no I/O.

Layout of the signed payload (base64url, no padding)::

    flags (1 byte) | uuid (16 bytes) | expiry, Unix seconds or 0 (4 bytes) | secret

When the secret is URL-safe base64 of whole bytes (the default generator's
output) it is stored as those bytes, which keeps a default token at 94
characters.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import math
import struct
import time
import uuid
from datetime import datetime, timezone
from typing import NamedTuple, Protocol

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from itsdangerous import Signer

from .conf import app_settings
from .exceptions import CredentialsError, TicketExpiredError

VERSION = 1
FLAG_RAW_SECRET = 0x01
_HEADER = struct.Struct(">B16sI")
# A default token is 94 characters. Anything far longer is garbage or an
# attack; refuse it before spending a HMAC on it.
MAX_TOKEN_LENGTH = 256
# The latest expiry a token can carry: 4 bytes of Unix seconds, early in 2106.
MAX_EXPIRY = datetime.fromtimestamp(2**32 - 1, tz=timezone.utc)


class Signable(Protocol):
    """What a token binds: a ticket's uuid, place, purpose and expiry."""

    uuid: uuid.UUID
    place: str
    purpose: str
    expiry_datetime: datetime | None


class Credentials(NamedTuple):
    """What a visitor presents: the ticket's uuid and secret.

    ``signed`` is true when they came from a token whose signature we checked,
    and ``expiry_timestamp`` is then its signed expiry (Unix seconds), if any.
    """

    uuid: uuid.UUID
    secret: str
    expiry_timestamp: int | None = None
    signed: bool = False

    @property
    def expiry(self) -> datetime | None:
        """The signed expiry, as an aware datetime."""
        if self.expiry_timestamp is None:
            return None
        return datetime.fromtimestamp(self.expiry_timestamp, tz=timezone.utc)

    def __repr__(self) -> str:
        # No secret: credentials end up in tracebacks, debuggers and error reports.
        return f"Credentials(uuid={self.uuid!r}, signed={self.signed!r})"


def _salt(place: str, purpose: str) -> str:
    # Length-prefixed so that ("a:b", "c") and ("a", "b:c") never share a salt.
    return f"django_ticketoffice.token:{len(place)}:{place}:{purpose}"


def _keys() -> list[str]:
    secret_key = app_settings.SECRET_KEY
    if secret_key:
        fallbacks = list(app_settings.SECRET_KEY_FALLBACKS)
    else:
        secret_key = settings.SECRET_KEY
        fallbacks = list(getattr(settings, "SECRET_KEY_FALLBACKS", []))
    # itsdangerous signs with the last key and tries the others newest first.
    return [*reversed(fallbacks), secret_key]


@functools.lru_cache(maxsize=256)
def _signer(place: str, purpose: str) -> Signer:
    salt = _salt(place, purpose)
    deriving = Signer(_keys(), salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)
    # itsdangerous derives the key on every call; derive once per place and
    # purpose instead. The tokens are the same: only when the HMAC is computed changes.
    derived = [deriving.derive_key(key) for key in deriving.secret_keys]
    return Signer(derived, salt=salt, key_derivation="none", digest_method=hashlib.sha256)


@functools.lru_cache(maxsize=1)
def code_keys() -> tuple[bytes, ...]:
    """Keys that hash short codes, newest first, derived from the signing keys.

    HMAC-SHA256 of a fixed label under each signing key: a key of its own for
    codes, which a token signature never reveals, and which rotates with
    ``SECRET_KEY`` (and ``SECRET_KEY_FALLBACKS``) like the tokens.
    """
    label = b"django_ticketoffice.code"
    return tuple(
        hmac.new(key.encode(), label, hashlib.sha256).digest() for key in reversed(_keys())
    )


@receiver(setting_changed)
def _reset_signers(*, setting: str, **kwargs: object) -> None:
    if setting in {"SECRET_KEY", "SECRET_KEY_FALLBACKS"} or setting.startswith("TICKETOFFICE_"):
        _signer.cache_clear()
        _keyed_macs.cache_clear()
        code_keys.cache_clear()


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64decode(data: bytes) -> bytes:
    # base64.urlsafe_b64decode, without its layers of argument checks: hot path.
    return binascii.a2b_base64(data.translate(_FROM_URLSAFE) + b"=" * (-len(data) % 4))


def _pack_secret(secret: str) -> tuple[int, bytes]:
    encoded = secret.encode()
    try:
        raw = _b64decode(encoded)
    except (binascii.Error, ValueError):
        return 0, encoded
    if raw and _b64encode(raw) == encoded:
        return FLAG_RAW_SECRET, raw
    return 0, encoded


def make_token(ticket: Signable, password: str) -> str:
    """Return the signed token for ``ticket`` whose clear secret is ``password``.

    The token is bound to the ticket's place and purpose, and carries its
    expiry so that an expired token is refused without any I/O. Raises
    ValueError for a token that :func:`read_token` would refuse as too long.
    """
    expiry = ticket.expiry_datetime
    # Rounded up: the signed expiry may only refuse what the database refuses too.
    timestamp = math.ceil(expiry.timestamp()) if expiry is not None else 0
    if not 0 <= timestamp < 2**32:
        raise ValueError("The ticket's expiry cannot be encoded in a token.")
    flags, secret = _pack_secret(password)
    payload = _HEADER.pack(VERSION << 4 | flags, ticket.uuid.bytes, timestamp) + secret
    token = _signer(ticket.place, ticket.purpose).sign(_b64encode(payload)).decode("ascii")
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValueError(
            f"A secret of {len(password)} characters makes a token of {len(token)} characters, "
            f"over the {MAX_TOKEN_LENGTH} that read_token() accepts: make "
            "TICKETOFFICE_PASSWORD_GENERATOR return a shorter secret (the default, "
            "secrets.token_urlsafe(16), makes 94)."
        )
    return token


def token_length(secret: str) -> int:
    """Return the length of a token carrying ``secret`` (the same for every ticket)."""
    flags, packed = _pack_secret(secret)
    payload = _HEADER.pack(VERSION << 4 | flags, bytes(16), 0) + packed
    signature_length = len(_b64encode(hashlib.sha256().digest()))
    return len(_b64encode(payload)) + 1 + signature_length


# A SHA-256 signature is 43 base64 characters; the last one carries 4 bits and
# 2 spare ones, which base64 decoding ignores. The canonical form has them zero.
_SIGNATURE_LENGTH = 43
_CANONICAL_LAST = frozenset(b"AEIMQUYcgkosw048")


@functools.lru_cache(maxsize=256)
def _keyed_macs(place: str, purpose: str) -> tuple[hmac.HMAC, ...]:
    """The signer's HMAC-SHA256, keyed with each of its derived keys, newest first.

    A keyed HMAC holds the hash states of its key: a check copies one and
    hashes only the token, instead of hashing the key again on every call.
    """
    signer = _signer(place, purpose)
    # itsdangerous signs with the last key: try it first.
    return tuple(hmac.new(key, digestmod=hashlib.sha256) for key in reversed(signer.secret_keys))


def _verify(place: str, purpose: str, value: bytes, signature: bytes) -> bool:
    """Check a signature as itsdangerous's ``Signer.verify_signature`` would.

    The same HMAC-SHA256 over the same derived keys (see :func:`_signer`),
    compared in constant time; only the keys' hashing is done once.
    """
    try:
        mac = _b64decode(signature)
    except (binascii.Error, ValueError):
        return False
    for keyed in _keyed_macs(place, purpose):
        computed = keyed.copy()
        computed.update(value)
        if hmac.compare_digest(computed.digest(), mac):
            return True
    return False


def read_token(token: str, place: str = "", purpose: str = "") -> Credentials:
    """Check a token's signature and signed expiry, and return its credentials.

    Raises :class:`CredentialsError` for a malformed, tampered or foreign
    token (one minted for another place or purpose), and
    :class:`TicketExpiredError` once the signed expiry has passed.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise CredentialsError("Malformed ticket token.")
    try:
        signed = token.encode("ascii")
    except UnicodeEncodeError:
        raise CredentialsError("Malformed ticket token.") from None
    value, _, signature = signed.rpartition(b".")
    # Only the signature we mint: several strings decode to the same MAC.
    if (
        not value
        or len(signature) != _SIGNATURE_LENGTH
        or signature[-1] not in _CANONICAL_LAST
        or not _verify(place, purpose, value, signature)
    ):
        raise CredentialsError("Invalid ticket token.")
    try:
        payload = _b64decode(value)
    except (binascii.Error, ValueError):
        # Signed by us but undecodable: only possible with a broken minting.
        raise CredentialsError("Malformed ticket token.") from None
    if len(payload) <= _HEADER.size:
        raise CredentialsError("Malformed ticket token.")
    flags, uuid_bytes, timestamp = _HEADER.unpack_from(payload)
    if flags >> 4 != VERSION:
        raise CredentialsError("Unsupported ticket token version.")
    if timestamp and timestamp < time.time():
        raise TicketExpiredError("The ticket has expired.", genuine=True, ticket_uuid=uuid_bytes)
    ticket_uuid = uuid.UUID(bytes=uuid_bytes)
    secret_bytes = payload[_HEADER.size :]
    if flags & FLAG_RAW_SECRET:
        secret = _b64encode(secret_bytes).decode("ascii")
    else:
        try:
            secret = secret_bytes.decode()
        except UnicodeDecodeError:
            raise CredentialsError("Malformed ticket token.") from None
    return Credentials(ticket_uuid, secret, timestamp or None, True)
