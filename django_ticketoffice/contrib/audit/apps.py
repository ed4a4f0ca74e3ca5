"""Application configuration of the audit trail."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    """Connects the signal receivers that record ticket events."""

    name = "django_ticketoffice.contrib.audit"
    label = "ticketoffice_audit"
    verbose_name = _("Ticket office audit")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, recording  # noqa: F401  (registers the checks)

        recording.connect()
