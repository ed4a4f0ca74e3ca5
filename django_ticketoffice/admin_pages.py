"""The admin's own ticket pages: confirm a revoke or re-issue, and show new credentials once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .conf import app_settings
from .links import ticket_url
from .models import (
    STATUS_EXPIRED,
    STATUS_LOCKED,
    STATUS_REVOKED,
    STATUS_USED,
    STATUS_VALID,
    Ticket,
)
from .responses import protect_response
from .utils import format_duration

STATUS_CHOICES = (
    (STATUS_VALID, _("valid")),
    (STATUS_USED, _("used")),
    (STATUS_EXPIRED, _("expired")),
    (STATUS_REVOKED, _("revoked")),
    (STATUS_LOCKED, _("locked")),
)
TEMPLATES = "admin/django_ticketoffice/ticket/"


@dataclass
class Issued:
    """A ticket just issued and its credential, for the one page that shows them."""

    ticket: Ticket
    token: str
    url: str | None
    # Why there is no link: no TICKETOFFICE_URLS entry ("missing") or one that does not resolve.
    url_problem: str | None = None
    previous: Ticket | None = None

    @property
    def key(self) -> str:
        """The ``TICKETOFFICE_URLS`` key that would give this ticket a link."""
        return f"{self.ticket.place}:{self.ticket.purpose}"


def issued_url(ticket: Ticket, token: str, request: HttpRequest) -> str | None:
    """Return the one-link URL of a new ticket, if ``TICKETOFFICE_URLS`` maps its place."""
    urls = app_settings.URLS
    name = urls.get(f"{ticket.place}:{ticket.purpose}") if isinstance(urls, dict) else None
    if not name:
        return None
    return ticket_url(name, token, request=request)


def _lifetime(ticket: Ticket) -> str:
    if ticket.expiry_datetime is None:
        return gettext("never expires")
    return format_duration(ticket.expiry_datetime - ticket.creation_datetime)


class TicketPagesMixin:
    """The confirmation page of the actions and the credential page, for the ticket admin."""

    # Tickets listed on a confirmation page; the others are counted.
    confirmation_list_limit = 100

    opts: Any
    admin_site: Any

    def _url(self, name: str, *args: Any) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}",
            args=args,
            current_app=self.admin_site.name,
        )

    # The credential page -----------------------------------------------------------

    def issued(
        self, request: HttpRequest, ticket: Ticket, token: str, previous: Ticket | None = None
    ) -> Issued:
        """Gather what the credential page shows for a new ticket."""
        try:
            url = issued_url(ticket, token, request)
        except NoReverseMatch:
            return Issued(ticket, token, None, "unresolved", previous)
        return Issued(ticket, token, url, None if url else "missing", previous)

    def issued_response(
        self,
        request: HttpRequest,
        issued: list[Issued],
        title: str,
        *,
        popup_data: str | None = None,
    ) -> HttpResponse:
        """The page that shows new credentials, once: the response to the POST that made them.

        Nothing stores the tokens. ``no-store`` keeps the page out of every
        cache, so the back button cannot show it again.
        """
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "issued": issued,
            "is_popup": popup_data is not None,
            "popup_response_data": popup_data,
            "has_view_permission": self.has_view_or_change_permission(request),  # type: ignore[attr-defined]
            "has_add_permission": self.has_add_permission(request),  # type: ignore[attr-defined]
            "urls_setting": app_settings.URLS,
        }
        response = TemplateResponse(request, TEMPLATES + "issued.html", context)
        # The tokens are in the body, not the URL; these pages link and post within the admin.
        return protect_response(response, "same-origin")

    # Confirmation pages --------------------------------------------------------------

    def _confirmation(
        self,
        request: HttpRequest,
        action: str,
        tickets: QuerySet[Ticket],
        *,
        count: int,
        skipped: int,
        single: Ticket | None = None,
    ) -> TemplateResponse:
        shown = list(tickets.order_by("pk")[: self.confirmation_list_limit])
        labels = dict(STATUS_CHOICES)
        rows = [
            {
                "ticket": ticket,
                "status": labels.get(ticket.status, ticket.status),
                "lifetime": _lifetime(ticket),
            }
            for ticket in shown
        ]
        if action == "revoke":
            title = gettext("Revoke tickets?") if single is None else gettext("Revoke ticket?")
            question = ngettext(
                "Revoke %(count)d ticket? Its link is refused from now on, everywhere. This "
                "cannot be undone.",
                "Revoke %(count)d tickets? Their links are refused from now on, everywhere. "
                "This cannot be undone.",
                count,
            ) % {"count": count}
            confirm = gettext("Yes, revoke")
        else:
            title = gettext("Re-issue tickets?") if single is None else gettext("Re-issue ticket?")
            question = ngettext(
                "Re-issue %(count)d ticket? It is revoked, and a new ticket with the same place, "
                "purpose, data and lifetime is issued. The next page shows its link once.",
                "Re-issue %(count)d tickets? They are revoked, and new tickets with the same "
                "places, purposes, data and lifetimes are issued. The next page shows their "
                "links once.",
                count,
            ) % {"count": count}
            confirm = gettext("Yes, re-issue")
        skipped_text = ngettext(
            "%(count)d selected ticket is skipped: already used or revoked.",
            "%(count)d selected tickets are skipped: already used or revoked.",
            skipped,
        ) % {"count": skipped}
        if action == "reissue":
            skipped_text = ngettext(
                "%(count)d selected ticket is skipped: already used.",
                "%(count)d selected tickets are skipped: already used.",
                skipped,
            ) % {"count": skipped}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "action": action,
            "question": question,
            "confirm_label": confirm,
            "rows": rows,
            "more": count - len(rows),
            "skipped": skipped,
            "skipped_text": skipped_text,
            "single": single,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across") == "1",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "cancel_url": (
                self._url("change", quote(single.pk))
                if single is not None
                else request.get_full_path()
            ),
        }
        return TemplateResponse(request, TEMPLATES + "action_confirmation.html", context)
