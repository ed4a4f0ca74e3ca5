"""Who caused an event: the client's address (kept as configured), user agent and staff member."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

from ...conf import app_settings

IP_MODES = ("full", "truncate", "hash", "drop")
# Prefixes kept by "truncate": a /24 network for IPv4, a /48 site for IPv6.
TRUNCATE_PREFIX = {4: 24, 6: 48}
USER_AGENT_LENGTH = 255


def anonymize_ip(address: Any, mode: str) -> str:
    """Return ``address`` as ``TICKETOFFICE_AUDIT_IP`` says to keep it ("" if dropped or invalid).

    "full" keeps it; "truncate" keeps its /24 (IPv4) or /48 (IPv6) network,
    written with the prefix; "hash" keeps a keyed HMAC-SHA256 (32 hex
    characters), so one address can be followed across events without being
    stored; "drop" keeps nothing.
    """
    if not isinstance(address, str) or not address or mode == "drop":
        return ""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if mode == "full":
        return str(ip)
    if mode == "hash":
        key = app_settings.SECRET_KEY or settings.SECRET_KEY
        digest = salted_hmac(
            "django_ticketoffice.contrib.audit.client_ip", str(ip), secret=key, algorithm="sha256"
        )
        return digest.hexdigest()[:32]
    network = ipaddress.ip_network(f"{ip}/{TRUNCATE_PREFIX[ip.version]}", strict=False)
    return str(network)


def client_details(request: HttpRequest | None) -> dict[str, str]:
    """The client IP (as configured), user agent and staff member of ``request``."""
    if request is None:
        return {}
    meta = getattr(request, "META", {})
    user = getattr(request, "user", None)
    staff = user.get_username() if user is not None and user.is_authenticated else ""
    return {
        "client_ip": anonymize_ip(meta.get("REMOTE_ADDR"), app_settings.AUDIT_IP),
        "user_agent": str(meta.get("HTTP_USER_AGENT", ""))[:USER_AGENT_LENGTH],
        "actor": staff,
    }
