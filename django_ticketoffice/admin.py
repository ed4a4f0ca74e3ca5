"""The ticket office in the Django admin: list, issue, revoke and re-issue tickets.

The changelist computes each ticket's status in SQL (``with_status()``), so a
page costs the same few queries whatever its rows. Issuing (and re-issuing,
see :mod:`django_ticketoffice.admin_actions`) shows the new credential once,
in the very response to the POST that created it, marked ``no-store``: the
clear token is never stored anywhere, not even in the staff member's session.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import quote
from django.contrib.auth.hashers import identify_hasher, is_password_usable
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import hashers
from .admin_actions import TicketActionsMixin
from .admin_pages import STATUS_CHOICES, Issued, issued_url
from .forms import TicketAddForm, TicketChangeForm, configured_targets
from .models import Ticket, TicketQuerySet

# A form already sent maps to the ticket it issued (never to a token), so that
# a resubmitted form (reload, back button) does not issue a second ticket.
SENT_FORMS_SESSION_KEY = "ticketoffice:admin:sent-forms"
FORM_NONCE_FIELD = "_ticketoffice_form"
MAX_REMEMBERED_FORMS = 20
__all__ = ["STATUS_CHOICES", "StatusListFilter", "TicketAdmin", "issued_url"]

# Set on the request by save_model for response_add: it never leaves memory.
ISSUED_ATTRIBUTE = "_ticketoffice_issued"

ADD_FIELDS = (
    "data",
    "lifetime",
    "expiry_datetime",
    "never_expires",
    "max_uses",
    "unlimited_uses",
    "max_attempts",
)
CHANGE_FIELDS = (
    "uuid_display",
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


def short_datetime(value: Any) -> str:
    """A date and time in the short local format, for narrow columns."""
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


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


@admin.register(Ticket)
class TicketAdmin(TicketActionsMixin, admin.ModelAdmin):
    """Tickets in the admin: status at a glance, issue once, revoke and re-issue on purpose."""

    form = TicketChangeForm
    add_form = TicketAddForm
    # Seven narrow columns: the list fits a 1366-pixel screen.
    list_display = (
        "short_uuid",
        "place",
        "purpose",
        "status_display",
        "uses_display",
        "created",
        "expires",
    )
    list_display_links = ("short_uuid",)
    list_filter = (StatusListFilter, "place", "purpose")
    # A full uuid is matched exactly (see get_search_results), which uses its index.
    search_fields = ("place", "purpose")
    search_help_text = _("A place, a purpose, or a ticket's full uuid.")
    date_hierarchy = "creation_datetime"
    # COUNT(*) over millions of rows on every page is the slowest query of all.
    show_full_result_count = False
    actions = ["revoke", "reissue", "unlock"]

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

    @admin.display(description=_("UUID"), ordering="uuid")
    def short_uuid(self, obj: Ticket) -> SafeString:
        """The uuid's first eight digits; the whole uuid on hover and on the ticket's page."""
        return format_html('<span title="{}">{}</span>', obj.uuid, str(obj.uuid)[:8])

    @admin.display(description=_("UUID"))
    def uuid_display(self, obj: Ticket) -> str:
        """The full uuid, as search and the commands take it."""
        return str(obj.uuid)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: Ticket) -> str:
        """The ticket's state (valid, used, expired or revoked), and when it was used or revoked."""
        label = str(dict(STATUS_CHOICES).get(obj.status, obj.status))
        when = obj.revocation_datetime or obj.usage_datetime
        return f"{label} {short_datetime(when)}" if when else label

    @admin.display(description=_("created"), ordering="creation_datetime")
    def created(self, obj: Ticket) -> str:
        """When the ticket was issued."""
        return short_datetime(obj.creation_datetime)

    @admin.display(description=_("expires"), ordering="expiry_datetime")
    def expires(self, obj: Ticket) -> str:
        """When the ticket expires, or "never"."""
        if obj.expiry_datetime is None:
            return gettext("never")
        return short_datetime(obj.expiry_datetime)

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
            return gettext("unusable: no credential authenticates")
        if obj.password.startswith(hashers.PREFIX):
            return gettext("set: generated secret, SHA-256 hash")
        try:
            algorithm = identify_hasher(obj.password).algorithm
        except ValueError:
            return gettext("set: unknown hasher")
        return gettext("set: chosen password, %(algorithm)s hash") % {"algorithm": algorithm}

    # Forms ---------------------------------------------------------------

    def get_fields(self, request: HttpRequest, obj: Ticket | None = None) -> Any:
        """Issue with place and purpose (or one configured target), data and expiry."""
        if obj is not None:
            return CHANGE_FIELDS
        target = ("target",) if configured_targets() else ("place", "purpose")
        return target + ADD_FIELDS

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
        """One "Save" to issue (the next page shows the credential); revoke and re-issue links."""
        if add:
            context["show_save_and_add_another"] = False
            context["show_save_and_continue"] = False
            # Kept through a form with errors, so that its final submission counts once.
            context["ticketoffice_form_nonce"] = request.POST.get(
                FORM_NONCE_FIELD
            ) or secrets.token_urlsafe(16)
            context["ticketoffice_form_nonce_field"] = FORM_NONCE_FIELD
        open_ticket = obj is not None and obj.usage_datetime is None
        context["ticketoffice_show_revoke"] = bool(
            open_ticket
            and obj is not None
            and obj.revocation_datetime is None
            and self.has_revoke_permission(request)
        )
        context["ticketoffice_show_reissue"] = bool(
            open_ticket and self.has_reissue_permission(request)
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Issuing ---------------------------------------------------------------

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Refuse to issue twice from the same form (a reload that resubmits it)."""
        if request.method == "POST":
            sent = self._sent_form(request)
            if sent is not None:
                return sent
        return super().add_view(request, form_url, extra_context)

    def _sent_form(self, request: HttpRequest) -> HttpResponse | None:
        nonce = request.POST.get(FORM_NONCE_FIELD)
        sent = request.session.get(SENT_FORMS_SESSION_KEY) or {}
        pk = sent.get(nonce) if nonce and isinstance(sent, dict) else None
        if pk is None:
            return None
        ticket = Ticket.objects.filter(pk=pk).first()
        self.message_user(
            request,
            gettext(
                "This form was already sent, and issued the ticket %(ticket)s. Its credential "
                "was shown once; if it was lost, re-issue the ticket."
            )
            % {"ticket": ticket or pk},
            messages.WARNING,
        )
        if ticket is not None and self.has_view_or_change_permission(request, ticket):
            return HttpResponseRedirect(self._url("change", quote(ticket.pk)))
        return HttpResponseRedirect(self._url("add"))

    def save_model(self, request: HttpRequest, obj: Ticket, form: Any, change: bool) -> None:
        """Issue new tickets through ``Ticket.objects.issue``; keep the token for this response."""
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
        # The admin goes on with ``obj`` (log entry, popup response): make it the saved ticket.
        for field in Ticket._meta.concrete_fields:
            setattr(obj, field.attname, getattr(ticket, field.attname))
        obj._state.adding = False
        obj._state.db = ticket._state.db
        setattr(request, ISSUED_ATTRIBUTE, self.issued(request, obj, token))
        nonce = request.POST.get(FORM_NONCE_FIELD)
        if nonce:
            sent = request.session.get(SENT_FORMS_SESSION_KEY) or {}
            sent = dict(list(sent.items())[-(MAX_REMEMBERED_FORMS - 1) :]) if sent else {}
            sent[nonce] = obj.pk
            request.session[SENT_FORMS_SESSION_KEY] = sent

    def response_add(
        self, request: HttpRequest, obj: Ticket, post_url_continue: str | None = None
    ) -> HttpResponse:
        """Show the credential once, in this response: no redirect that would need to store it.

        In a popup the page also offers the button that hands the new ticket to
        the form that opened it, once the credential is copied.
        """
        issued: Issued | None = getattr(request, ISSUED_ATTRIBUTE, None)
        if issued is None:  # pragma: no cover - save_model always sets it
            return super().response_add(request, obj, post_url_continue)
        popup_data = None
        if IS_POPUP_VAR in request.POST:
            popup = super().response_add(request, obj, post_url_continue)
            if isinstance(popup, TemplateResponse) and popup.context_data:
                popup_data = popup.context_data.get("popup_response_data")
        return self.issued_response(
            request, [issued], gettext("Ticket issued"), popup_data=popup_data
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Send the revoke button of earlier pages to the confirmation page."""
        if request.method == "POST" and "_revoke" in request.POST:
            return HttpResponseRedirect(self._url("revoke", object_id), status=303)
        return super().change_view(request, object_id, form_url, extra_context)

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
