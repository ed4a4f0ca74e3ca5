"""The OpenAPI security scheme of :class:`TicketAuthentication`, for drf-spectacular.

Imported by :mod:`django_ticketoffice.contrib.rest_framework` when
drf-spectacular is installed; defining the class registers it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TicketAuthenticationScheme(OpenApiAuthenticationExtension):
    """``components.securitySchemes.ticketAuth``: HTTP authentication, scheme ``ticket``."""

    target_class = "django_ticketoffice.contrib.rest_framework.TicketAuthentication"
    match_subclasses = True
    name = "ticketAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        """The scheme named after the class's ``keyword`` (``Ticket``), lower-cased as HTTP does."""
        keyword = getattr(self.target, "keyword", "Ticket")
        return {
            "type": "http",
            "scheme": keyword.lower(),
            "description": (
                f"A django-ticketoffice ticket token: 'Authorization: {keyword} <token>'."
            ),
        }
