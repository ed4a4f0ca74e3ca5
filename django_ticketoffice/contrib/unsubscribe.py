"""RFC 8058 one-click unsubscribe, with tickets as the unsubscribe links.

:func:`unsubscribe_headers` issues a ticket for one recipient and one mailing
list and returns the two headers of the message::

    List-Unsubscribe: <https://example.com/unsubscribe/?ticket=...>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click

:class:`UnsubscribeView` serves that URL. The mail provider's one-click POST
carries no cookie, no CSRF token and no session (RFC 8058 §3.2), so the view
is CSRF-exempt and reads the token from the URL on every request: the ticket
is the authority. The POST is answered 200 directly, never with a redirect
(§3.3). A GET, from a person or a link scanner, only shows a confirmation
page whose button posts to the same URL, so scanners cannot unsubscribe
anyone. The project's callable does the unsubscribing, exactly once; a second
POST finds the ticket used and is a harmless 200.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..claims import Claim
from ..conf import app_settings
from ..credentials import take_credentials
from ..exceptions import NoTicketError, TicketError
from ..links import ticket_url
from ..models import Ticket
from ..responses import get_refusal_handler, protect_response
from ..signals import send_refused, ticket_admitted
from ..utils import import_member
from ..verification import verify

__all__ = ["ONE_CLICK", "UnsubscribeView", "unsubscribe_headers"]

ONE_CLICK = "List-Unsubscribe=One-Click"
DEFAULT_PLACE = "mail"
DEFAULT_PURPOSE = "unsubscribe"
# Links in old messages keep working for a while; CAN-SPAM asks for 30 days at least.
DEFAULT_LIFETIME = timedelta(days=90)

Unsubscribe = Callable[..., Any]


def unsubscribe_headers(
    recipient: str,
    mailing_list: str,
    *,
    url: str = "unsubscribe",
    data: dict[str, Any] | None = None,
    lifetime: timedelta = DEFAULT_LIFETIME,
    place: str = DEFAULT_PLACE,
    purpose: str = DEFAULT_PURPOSE,
    mailto: str | None = None,
    request: HttpRequest | None = None,
) -> dict[str, str]:
    """Issue an unsubscribe ticket and return the RFC 8058 headers for one message.

    ``url`` is the URL name (or path) of the :class:`UnsubscribeView`; the
    link is absolute, from ``TICKETOFFICE_BASE_URL`` (or ``request``), and
    must be https unless ``DEBUG`` is on. ``mailto`` adds a ``mailto:`` URI
    for clients without one-click. Pass the result as ``EmailMessage(headers=...)``.
    """
    _ticket, token = Ticket.objects.issue(
        place,
        purpose,
        data={**(data or {}), "recipient": recipient, "list": mailing_list},
        lifetime=lifetime,
    )
    link = ticket_url(url, token, request=request)
    if not link.startswith(("https://", "http://")):
        raise ImproperlyConfigured(
            "A List-Unsubscribe URL must be absolute: set TICKETOFFICE_BASE_URL "
            '(e.g. "https://example.com") or pass request=.'
        )
    if not link.startswith("https://") and not settings.DEBUG:
        raise ImproperlyConfigured(
            "RFC 8058 requires an https List-Unsubscribe URL: make TICKETOFFICE_BASE_URL "
            "start with https://."
        )
    uris = [f"<{link}>"]
    if mailto:
        uris.append(f"<mailto:{mailto}>")
    return {"List-Unsubscribe": ", ".join(uris), "List-Unsubscribe-Post": ONE_CLICK}


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    """The one-click unsubscribe URL: GET confirms, POST unsubscribes, once.

    The callable is ``handler`` (``as_view(handler=...)``, a callable or its
    dotted path) or ``TICKETOFFICE_UNSUBSCRIBE_HANDLER``; it is called as
    ``handler(recipient, mailing_list, ticket=ticket, request=request)``.
    Subclasses may override :meth:`unsubscribe` instead.
    """

    place: str = DEFAULT_PLACE
    purpose: str = DEFAULT_PURPOSE
    handler: Unsubscribe | str | None = None
    confirm_template_name = "ticketoffice/unsubscribe_confirm.html"
    done_template_name = "ticketoffice/unsubscribed.html"
    http_method_names = ["get", "post", "head", "options"]

    # Requests --------------------------------------------------------------

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Show what the button will do; change nothing."""
        ticket = self._admit(request)
        if isinstance(ticket, HttpResponse):
            return ticket
        return self._page(request, self.confirm_template_name, ticket)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Unsubscribe once; answer 200 (never a redirect), also when already done."""
        ticket = self._admit(request)
        if isinstance(ticket, HttpResponse):
            return ticket
        claim = Claim(ticket, request=request)
        try:
            claim.take()
        except TicketError as error:
            # Used meanwhile (a second click racing the first): done already.
            if error.reason == "used":
                return self._page(request, self.done_template_name, ticket)
            return self._refuse(request, error)
        try:
            self.unsubscribe(ticket.data.get("recipient"), ticket.data.get("list"), ticket, request)
            response = self._page(request, self.done_template_name, ticket)
            response.render()
        except BaseException:
            claim.undo()
            raise
        claim.finish(response)
        return response

    def unsubscribe(
        self, recipient: Any, mailing_list: Any, ticket: Ticket, request: HttpRequest
    ) -> None:
        """Call the project's handler (raises ImproperlyConfigured without one)."""
        self.get_handler()(recipient, mailing_list, ticket=ticket, request=request)

    def get_handler(self) -> Unsubscribe:
        """The view's ``handler``, else ``TICKETOFFICE_UNSUBSCRIBE_HANDLER``."""
        handler = self.handler or app_settings.UNSUBSCRIBE_HANDLER
        if isinstance(handler, str):
            handler = import_member(handler)
        if not callable(handler):
            raise ImproperlyConfigured(
                "UnsubscribeView needs a handler: as_view(handler=...) or "
                "TICKETOFFICE_UNSUBSCRIBE_HANDLER = 'dotted.path.to.unsubscribe'."
            )
        return handler

    # Helpers ---------------------------------------------------------------

    def _admit(self, request: HttpRequest) -> Ticket | HttpResponse:
        """The valid ticket of the URL, or the response that ends the request.

        Only the URL counts: never the session (RFC 8058 posts carry no cookie).
        A used ticket gets the "unsubscribed" page: its recipient is unsubscribed already.
        """
        credentials = None
        try:
            credentials = take_credentials(request, self.place, self.purpose)
            if credentials is None:
                raise NoTicketError("An unsubscribe link is required.")
            ticket = verify(credentials, self.place, self.purpose)
        except TicketError as error:
            if error.reason == "used" and error.genuine:
                # Unsubscribed already: say so, without a query for the details.
                return self._page(request, self.done_template_name, None)
            if credentials is not None and error.ticket_uuid is None:
                error.ticket_uuid = credentials.uuid
            return self._refuse(request, error)
        ticket_admitted.send(sender=Ticket, ticket=ticket, request=request)
        return ticket

    def _refuse(self, request: HttpRequest, error: TicketError) -> HttpResponse:
        send_refused(error, place=self.place, purpose=self.purpose, request=request)
        return protect_response(get_refusal_handler()(request, error))

    def _page(
        self, request: HttpRequest, template_name: str, ticket: Ticket | None
    ) -> TemplateResponse:
        data = ticket.data if ticket is not None and isinstance(ticket.data, dict) else {}
        context = {
            "recipient": data.get("recipient"),
            "mailing_list": data.get("list"),
            "ticket": ticket,
        }
        response = TemplateResponse(request, template_name, context)
        protect_response(response)
        return response
