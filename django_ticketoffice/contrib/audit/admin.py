"""The audit trail in the admin: an inline on each ticket's page, and a list of all events.

The inline joins the ticket admin without editing it: the registered ticket
admin (the library's, or a project's subclass registered earlier) is
replaced by a subclass that adds :class:`TicketEventInline`. A project that
registers its own ticket admin *after* this app can add the inline itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ... import admin as ticket_admin  # noqa: F401  (registers the ticket admin first)
from ...models import Ticket
from .models import TicketEvent

# The inline shows the newest events; the event list has them all.
INLINE_LIMIT = 100
EVENT_FIELDS = (
    "time",
    "kind",
    "reason",
    "count",
    "client_ip",
    "user_agent",
    "actor",
)


class _NewestEvents(BaseInlineFormSet):
    def get_queryset(self) -> QuerySet[Any]:
        # One sliced queryset, evaluated once, however often the formset asks.
        if not hasattr(self, "_newest"):
            self._newest = super().get_queryset()[:INLINE_LIMIT]
        return self._newest


class TicketEventInline(admin.TabularInline):
    """The ticket's newest events, read-only."""

    model = TicketEvent
    fk_name = "ticket"
    formset = _NewestEvents
    fields = EVENT_FIELDS
    readonly_fields = EVENT_FIELDS
    ordering = ("-time", "-pk")
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = _("audit trail (newest events)")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """The trail is written by the library only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Events are never edited."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Events go with ``ticketoffice_purge_events`` only."""
        return False


@admin.register(TicketEvent)
class TicketEventAdmin(admin.ModelAdmin):
    """Every event, filterable; read-only."""

    list_display = ("time", "kind", "reason", "count", "place", "purpose", "ticket_id", "client_ip")
    list_filter = ("kind", "reason", "place", "purpose")
    search_fields = ("place", "purpose")
    search_help_text = _("A place, a purpose, or a ticket's full uuid.")
    date_hierarchy = "time"
    show_full_result_count = False
    fields = ("ticket_id", "place", "purpose", "window_start", *EVENT_FIELDS)
    readonly_fields = fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Match a full uuid exactly (its index), else place and purpose."""
        term = search_term.strip()
        try:
            ticket_uuid = uuid.UUID(term) if len(term) >= 32 else None
        except ValueError:
            ticket_uuid = None
        if ticket_uuid is not None:
            return queryset.filter(ticket_id=ticket_uuid), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request: HttpRequest) -> bool:
        """The trail is written by the library only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Events are never edited."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Events go with ``ticketoffice_purge_events`` only."""
        return False


def with_audit_trail(model_admin: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """A subclass of ``model_admin`` that shows the audit trail on the change page."""

    class AuditedTicketAdmin(model_admin):  # type: ignore[valid-type,misc]
        shows_audit_trail = True

        def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
            inlines = list(super().get_inlines(request, obj))
            # Shown on the change page; left out of its POSTs (nothing to
            # save, and a client posting the ticket's data needs no formset).
            shown = obj is not None and request.method in ("GET", "HEAD")
            if shown and TicketEventInline not in inlines:
                inlines.append(TicketEventInline)
            return inlines

    AuditedTicketAdmin.__name__ = AuditedTicketAdmin.__qualname__ = f"Audited{model_admin.__name__}"
    AuditedTicketAdmin.__module__ = __name__
    return AuditedTicketAdmin


def _registered(site: admin.AdminSite) -> admin.ModelAdmin | None:
    getter = getattr(site, "get_model_admin", None)  # Django >= 5.0
    if getter is not None:
        return getter(Ticket) if site.is_registered(Ticket) else None
    return site._registry.get(Ticket)  # pragma: no cover - Django 4.2


current = _registered(admin.site)
if current is not None and not getattr(current, "shows_audit_trail", False):
    admin.site.unregister(Ticket)
    admin.site.register(Ticket, with_audit_trail(type(current)))
