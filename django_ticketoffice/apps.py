"""Application configuration."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketOfficeConfig(AppConfig):
    """Registers the system checks of django-ticketoffice."""

    name = "django_ticketoffice"
    verbose_name = _("Ticket office")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
