"""Sign in with a short code, typed in the browser that asked for it.

A person asks for a code on a page of yours (by email address, say). The site
issues a ticket with a code (:meth:`TicketManager.issue_with_code`), sends the
link and the code, and keeps the ticket as *pending* in this browser's
session. The code typed next is checked against that pending ticket only, so
a code typed in another browser is refused (ASVS 5.0 §6.6.2). A right code
admits the ticket into the session exactly as ``@invitation_required`` admits
a link (under a new session key), and the view behind
``@invitation_required(place, purpose)`` then serves both: whichever of the
link and the code comes first consumes the ticket there.

- :func:`await_code` and :func:`redeem_code` are the two steps, for your own views;
- :class:`CodeSignInView` does both with a template; subclass it.

Every wrong code counts against its ticket (:mod:`django_ticketoffice.attempts`)
and sends ``ticket_refused``, the hook for a per-client throttle.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic.base import ContextMixin, TemplateResponseMixin, View

from . import codes
from .credentials import admit_into_session
from .exceptions import TicketError
from .models import Ticket
from .responses import protect_response
from .signals import send_refused

CODE_PARAMETER = "code"

REFUSALS = {
    "expired": _("This code has expired. Ask for a new one."),
    "used": _("This code has already been used. Ask for a new one."),
    "revoked": _("This code was cancelled. Ask for a new one."),
}
# Every other refusal reads the same: a wrong code, a locked ticket, a code
# typed in another browser, a code for an address that has no account.
REFUSAL = _("This code is not valid. Check it, or ask for a new one.")


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def pending_key(place: str, purpose: str) -> str:
    """The session key that keeps the ticket waiting for its code."""
    return f"ticketoffice:pending:{len(place)}:{place}:{purpose}"


def await_code(request: HttpRequest, ticket_uuid: Any, place: str, purpose: str) -> None:
    """Make ``ticket_uuid`` the ticket whose code this browser's session may type next.

    Pass a random uuid when there is no ticket (an unknown address): the page
    looks the same, and no code will ever match it.
    """
    request.session[pending_key(place, purpose)] = str(ticket_uuid)


def redeem_code(request: HttpRequest, code: Any, place: str, purpose: str) -> Ticket:
    """Check ``code`` against this session's pending ticket and admit the ticket.

    Returns the ticket, now remembered in the session under a new key, as
    ``@invitation_required`` remembers a link; raises a :class:`TicketError`
    otherwise (a wrong code counts against the ticket).
    """
    key = pending_key(place, purpose)
    ticket = Ticket.objects.verify_code(request.session.get(key), code, place, purpose)
    request.session.pop(key, None)
    admit_into_session(request, place, purpose, ticket)
    return ticket


class IdentifierForm(forms.Form):
    """Ask for the email address to send a code to."""

    email = forms.EmailField(label=_("Email address"))


class CodeInput(forms.TextInput):
    """A text input that never writes the typed code back into the page."""

    def format_value(self, value: Any) -> str | None:
        """Nothing: a refused code is not echoed (and the page reads the same for all)."""
        return None


class CodeForm(forms.Form):
    """Take the code; spaces and hyphens are allowed, the format is checked here."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=CodeInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_code(self) -> str:
        """Return the digits; a malformed code is a form error, not a guess."""
        try:
            return codes.clean_code(self.cleaned_data["code"])
        except TicketError:
            raise forms.ValidationError(
                _("Enter the code you received: %(min)d to %(max)d digits."),
                code="format",
                params={"min": codes.MIN_DIGITS, "max": codes.MAX_DIGITS},
            ) from None


@method_decorator(sensitive_post_parameters(CODE_PARAMETER), name="dispatch")
class CodeSignInView(TemplateResponseMixin, ContextMixin, View):
    """Ask for an identifier, send a link and a code, then take the code in this session.

    Set ``place``, ``purpose`` and ``success_url`` (a view under
    ``@invitation_required(place, purpose)``), and override :meth:`send_code`
    (and :meth:`ticket_data` to look the identifier up). The template gets
    ``identifier_form`` on the first step, ``code_form`` on the second.
    """

    place: str = ""
    purpose: str = ""
    success_url: str | None = None
    template_name = "ticketoffice/code_sign_in.html"
    identifier_form_class: type[forms.Form] = IdentifierForm
    code_form_class: type[forms.Form] = CodeForm
    digits = 6
    lifetime: timedelta | None = timedelta(minutes=10)
    max_uses: int | None = 1
    max_attempts: int | None = None

    # Hooks -------------------------------------------------------------

    def ticket_data(self, form: forms.Form) -> dict[str, Any] | None:
        """The new ticket's data, or None when the identifier is unknown (same page)."""
        return dict(form.cleaned_data)

    def send_code(self, form: forms.Form, ticket: Ticket, token: str, code: str) -> None:
        """Send the link (built from ``token``) and the code to the person."""
        raise NotImplementedError(f"{type(self).__name__} must define send_code().")

    def get_success_url(self, ticket: Ticket) -> str:
        """Where an admitted ticket goes: a view under ``@invitation_required``."""
        if not self.success_url:
            raise ImproperlyConfigured(f"{type(self).__name__} needs a success_url.")
        return resolve_url(self.success_url)

    # Steps ---------------------------------------------------------------

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Show the identifier form."""
        return self.render(identifier_form=self.identifier_form_class())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Issue and send a code, or check one."""
        if CODE_PARAMETER in request.POST:
            return self.check_code()
        return self.issue_code()

    def issue_code(self) -> HttpResponse:
        """Issue a ticket with a code for the identifier, send it, and wait for the code."""
        form = self.identifier_form_class(self.request.POST)
        if not form.is_valid():
            return self.render(identifier_form=form, status=400)
        data = self.ticket_data(form)
        pending: Any = uuid.uuid4()  # an unknown identifier: no code will ever match
        if data is not None:
            ticket, token, code = Ticket.objects.issue_with_code(
                self.place,
                self.purpose,
                digits=self.digits,
                data=data,
                lifetime=self.lifetime,
                max_uses=self.max_uses,
                max_attempts=self.max_attempts,
            )
            self.send_code(form, ticket, token, code)
            pending = ticket.uuid
        await_code(self.request, pending, self.place, self.purpose)
        return self.render(code_form=self.code_form_class(), identifier_form=form)

    def check_code(self) -> HttpResponse:
        """Admit the pending ticket if the code is right; refuse it the same way otherwise."""
        form = self.code_form_class(self.request.POST)
        if not form.is_valid():
            return self.render(code_form=form, status=400)
        try:
            ticket = redeem_code(
                self.request, form.cleaned_data[CODE_PARAMETER], self.place, self.purpose
            )
        except TicketError as error:
            pending = self.request.session.get(pending_key(self.place, self.purpose))
            send_refused(
                error,
                place=self.place,
                purpose=self.purpose,
                request=self.request,
                ticket_uuid=_uuid_or_none(pending),
            )
            message = REFUSALS.get(error.reason, REFUSAL) if error.genuine else REFUSAL
            form.add_error(None, message)
            return self.render(code_form=form, status=error.status_code)
        redirect = HttpResponseRedirect(self.get_success_url(ticket), status=303)
        return protect_response(redirect, "same-origin")

    def render(self, *, status: int = 200, **context: Any) -> HttpResponse:
        """Render the template; never cached, no referrer beyond this site."""
        response = self.render_to_response(self.get_context_data(**context), status=status)
        return protect_response(response, "same-origin")
