"""The ticket office in the Django admin: list, issue and revoke tickets.

The changelist computes each ticket's status in SQL (``with_status()``), so a
page costs the same few queries whatever its rows. Issuing shows the new
credential once, on the next page, and never stores it in clear: it travels
in the staff member's session and is popped when first displayed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.contrib.auth.hashers import identify_hasher, is_password_usable
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import hashers
from .conf import app_settings
from .forms import TicketAddForm, TicketChangeForm
from .links import ticket_url
from .models import (
    STATUS_EXPIRED,
    STATUS_LOCKED,
    STATUS_REVOKED,
    STATUS_USED,
    STATUS_VALID,
    Ticket,
    TicketQuerySet,
)
from .responses import protect_response

ISSUED_SESSION_KEY = "ticketoffice:admin:issued:{pk}"

STATUS_CHOICES = (
    (STATUS_VALID, _("valid")),
    (STATUS_USED, _("used")),
    (STATUS_EXPIRED, _("expired")),
    (STATUS_REVOKED, _("revoked")),
    (STATUS_LOCKED, _("locked")),
)

ADD_FIELDS = (
    "place",
    "purpose",
    "data",
    "expiry_datetime",
    "lifetime",
    "max_uses",
    "unlimited_uses",
    "max_attempts",
)
CHANGE_FIELDS = (
    "uuid",
    "place",
    "purpose",
    "status_display",
    "data",
    "password_summary",
    "creation_datetime",
    "expiry_datetime",
    "usage_datetime",
    "revocation_datetime",
    "uses_display",
    "max_attempts",
    "failed_attempts",
    "lock_datetime",
    "code_summary",
)
# What the token binds (place, purpose, expiry) cannot change after issue.
CHANGE_READONLY_FIELDS = tuple(field for field in CHANGE_FIELDS if field != "data")


class StatusListFilter(admin.SimpleListFilter):
    """Filter on the status, through the indexed columns (:meth:`TicketQuerySet.in_status`)."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        """Offer the four states."""
        return STATUS_CHOICES

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Keep the tickets in the chosen state; ignore unknown values."""
        value = self.value()
        if value in dict(STATUS_CHOICES) and isinstance(queryset, TicketQuerySet):
            return queryset.in_status(value)
        return queryset


def issued_url(ticket: Ticket, token: str, request: HttpRequest) -> str | None:
    """Return the one-link URL of a new ticket, if ``TICKETOFFICE_URLS`` maps its place."""
    urls = app_settings.URLS
    name = urls.get(f"{ticket.place}:{ticket.purpose}") if isinstance(urls, dict) else None
    if not name:
        return None
    return ticket_url(name, token, request=request)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Tickets in the admin: status at a glance, issue once, revoke at once."""

    form = TicketChangeForm
    add_form = TicketAddForm
    list_display = (
        "uuid",
        "place",
        "purpose",
        "status_display",
        "uses_display",
        "creation_datetime",
        "expiry_datetime",
        "usage_datetime",
        "revocation_datetime",
    )
    list_filter = (StatusListFilter, "place", "purpose")
    # A full uuid is matched exactly (see get_search_results), which uses its index.
    search_fields = ("place", "purpose")
    search_help_text = _("A place, a purpose, or a ticket's full uuid.")
    date_hierarchy = "creation_datetime"
    # COUNT(*) over millions of rows on every page is the slowest query of all.
    show_full_result_count = False
    actions = ["revoke", "unlock"]

    # Queryset and columns ---------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Ticket]:
        """Annotate every row with its status, in the same query."""
        queryset = super().get_queryset(request)
        assert isinstance(queryset, TicketQuerySet)
        return queryset.with_status()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Ticket], search_term: str
    ) -> tuple[QuerySet[Ticket], bool]:
        """Match a full uuid exactly (with or without hyphens), else place and purpose."""
        term = search_term.strip()
        try:
            ticket_uuid = Ticket._meta.get_field("uuid").to_python(term)
        except ValidationError:
            ticket_uuid = None
        if ticket_uuid is not None and len(term) >= 32:
            return queryset.filter(uuid=ticket_uuid), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: Ticket) -> str:
        """The ticket's state: valid, used, expired or revoked."""
        return str(dict(STATUS_CHOICES).get(obj.status, obj.status))

    @admin.display(description=_("uses"))
    def uses_display(self, obj: Ticket) -> str:
        """Uses taken out of those allowed: "1/3", or "2/∞" without a limit."""
        limit = "∞" if obj.max_uses is None else str(obj.max_uses)
        return f"{obj.uses}/{limit}"

    @admin.display(description=_("code"))
    def code_summary(self, obj: Ticket) -> str:
        """Say whether the ticket has a short code; never show its hash."""
        return str(_("set: keyed hash") if obj.code_hash else _("none"))

    @admin.display(description=_("secret"))
    def password_summary(self, obj: Ticket) -> str:
        """Say whether a secret is set and how it is hashed; never show the hash."""
        if not obj.password or not is_password_usable(obj.password):
            return str(_("unusable: no credential authenticates"))
        if obj.password.startswith(hashers.PREFIX):
            return str(_("set: generated secret, SHA-256 hash"))
        try:
            algorithm = identify_hasher(obj.password).algorithm
        except ValueError:
            return str(_("set: unknown hasher"))
        return str(_("set: chosen password, %(algorithm)s hash") % {"algorithm": algorithm})

    # Forms ---------------------------------------------------------------

    def get_fields(self, request: HttpRequest, obj: Ticket | None = None) -> Any:
        """Issue with place, purpose, data and expiry or lifetime; then show everything."""
        return ADD_FIELDS if obj is None else CHANGE_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Ticket | None = None) -> Any:
        """The hash, uuid, dates and what the token binds are read-only once issued."""
        return () if obj is None else CHANGE_READONLY_FIELDS

    def get_form(
        self, request: HttpRequest, obj: Ticket | None = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm[Ticket]]:
        """Use the issuing form to add and the data form to change."""
        if obj is None:
            kwargs.setdefault("form", self.add_form)
        return super().get_form(request, obj, change=change, **kwargs)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Ticket | None = None,
    ) -> HttpResponse:
        """Hide "save and add another" (the next page shows the credential), offer revoke."""
        if add:
            context["show_save_and_add_another"] = False
        context["ticketoffice_show_revoke"] = bool(
            obj is not None
            and obj.usage_datetime is None
            and obj.revocation_datetime is None
            and self.has_revoke_permission(request)
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Issuing ---------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Ticket, form: Any, change: bool) -> None:
        """Issue new tickets through ``Ticket.objects.issue``; keep the token for one display."""
        if change:
            # Only the data is editable: a full save would write back the usage and
            # revocation read before a concurrent use() or revoke(), undoing them.
            obj.save(update_fields=["data"])
            return
        ticket, token = Ticket.objects.issue(
            obj.place,
            obj.purpose,
            data=obj.data,
            expiry_datetime=obj.expiry_datetime,
            # From the form: a field left out of the POST would leave the model default.
            max_uses=form.cleaned_data.get("max_uses", obj.max_uses),
            max_attempts=obj.max_attempts,
        )
        # The admin goes on with ``obj`` (log entry, redirect): make it the saved ticket.
        for field in Ticket._meta.concrete_fields:
            setattr(obj, field.attname, getattr(ticket, field.attname))
        obj._state.adding = False
        obj._state.db = ticket._state.db
        try:
            url = issued_url(obj, token, request)
        except NoReverseMatch:
            url = None
            self.message_user(
                request,
                _("TICKETOFFICE_URLS names a URL for %(key)s that does not resolve.")
                % {"key": f"{obj.place}:{obj.purpose}"},
                messages.WARNING,
            )
        request.session[ISSUED_SESSION_KEY.format(pk=obj.pk)] = {"token": token, "url": url}

    def response_add(
        self, request: HttpRequest, obj: Ticket, post_url_continue: str | None = None
    ) -> HttpResponse:
        """Go to the ticket's page, which shows the credential once."""
        if IS_POPUP_VAR in request.POST:
            return super().response_add(request, obj, post_url_continue)
        if not self.has_view_or_change_permission(request, obj):
            # Staff who may add but not view still get their credential, once.
            return self._issued_response(request, obj)
        self.message_user(
            request,
            _("The ticket was issued. Copy its credential now: it will not be shown again."),
            messages.SUCCESS,
        )
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=(obj.pk,),
            current_app=self.admin_site.name,
        )
        return HttpResponseRedirect(url)

    def _pop_issued(self, request: HttpRequest, object_id: str) -> dict[str, Any] | None:
        issued = request.session.pop(ISSUED_SESSION_KEY.format(pk=object_id), None)
        return issued if isinstance(issued, dict) and issued.get("token") else None

    def _issued_response(self, request: HttpRequest, obj: Ticket) -> HttpResponse:
        issued = self._pop_issued(request, str(obj.pk)) or {}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Ticket issued"),
            "ticket": obj,
            "ticketoffice_token": issued.get("token"),
            "ticketoffice_url": issued.get("url"),
        }
        response = TemplateResponse(
            request, "admin/django_ticketoffice/ticket/issued.html", context
        )
        # The token is in the body, not the URL; these pages post forms.
        return protect_response(response, "same-origin")

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Show a fresh credential once; handle the revoke button."""
        if request.method == "POST" and "_revoke" in request.POST:
            return self.revoke_view(request, object_id)
        issued = self._pop_issued(request, unquote(object_id)) if request.method == "GET" else None
        if issued is None:
            return super().change_view(request, object_id, form_url, extra_context)
        extra_context = {
            **(extra_context or {}),
            "ticketoffice_token": issued["token"],
            "ticketoffice_url": issued.get("url"),
        }
        response = super().change_view(request, object_id, form_url, extra_context)
        return protect_response(response, "same-origin")

    # Revoking ----------------------------------------------------------------

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Staff need ``django_ticketoffice.revoke_ticket`` to revoke."""
        codename = get_permission_codename("revoke", self.opts)
        return bool(request.user.has_perm(f"{self.opts.app_label}.{codename}"))

    @admin.action(description=_("Revoke selected tickets"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        """Revoke the selection in the database, then stamp the cache after commit."""
        assert isinstance(queryset, TicketQuerySet)
        selected = queryset.count()
        revoked = queryset.revoke(request=request)
        skipped = max(selected - revoked, 0)
        message = ngettext(
            "%(count)d ticket was revoked.", "%(count)d tickets were revoked.", revoked
        ) % {"count": revoked}
        if skipped:
            message += " " + ngettext(
                "%(count)d was skipped: already used or revoked.",
                "%(count)d were skipped: already used or revoked.",
                skipped,
            ) % {"count": skipped}
        self.message_user(request, message, messages.SUCCESS if revoked else messages.WARNING)

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Revoke one ticket from its change page (the ``_revoke`` button)."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(_("No ticket with this id."))
        if not (
            self.has_view_or_change_permission(request, obj) and self.has_revoke_permission(request)
        ):
            raise PermissionDenied
        if obj.revoke(request=request):
            self.log_change(request, obj, [{"changed": {"fields": ["revocation_datetime"]}}])
            self.message_user(request, _("The ticket was revoked."), messages.SUCCESS)
        else:
            self.message_user(
                request,
                _("The ticket was already used or revoked: nothing changed."),
                messages.WARNING,
            )
        return HttpResponseRedirect(request.get_full_path())

    # Unlocking ---------------------------------------------------------------

    @admin.action(description=_("Unlock selected tickets"), permissions=["change"])
    def unlock(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        """Unlock tickets locked after too many failed guesses, and reset their counts."""
        assert isinstance(queryset, TicketQuerySet)
        unlocked = queryset.unlock()
        message = ngettext(
            "%(count)d ticket was unlocked.", "%(count)d tickets were unlocked.", unlocked
        ) % {"count": unlocked}
        self.message_user(request, message, messages.SUCCESS if unlocked else messages.WARNING)
