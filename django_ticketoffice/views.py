"""Responses for refused tickets, and a mixin for class-based views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers, patch_cache_control

from .conf import app_settings
from .exceptions import TicketError
from .utils import import_member

TEMPLATES = {
    401: "ticketoffice/401.html",
    403: "ticketoffice/403.html",
    503: "ticketoffice/503.html",
}

RefusalHandler = Callable[[HttpRequest, TicketError], HttpResponse]


def protect_response(
    response: HttpResponse, referrer_policy: str = "no-referrer"
) -> HttpResponse:
    """Keep a response that carries or accepts credentials out of caches and referrers.

    Pages whose own URL carries a credential get ``no-referrer``. Pages reached
    through the clean URL may pass ``"same-origin"``: other sites still see
    nothing, while the browser keeps sending a real ``Origin`` on same-site
    form posts (with ``no-referrer`` it sends ``Origin: null``, which Django's
    CSRF protection refuses).
    """
    add_never_cache_headers(response)
    patch_cache_control(response, no_store=True)
    response.headers["Referrer-Policy"] = referrer_policy
    return response


def refuse(request: HttpRequest, error: TicketError) -> HttpResponse:
    """Render the default refusal page: 401 without a ticket, 403 when refused.

    The page names the reason (used, expired, revoked) only when the
    credential was genuine; a forgery gets the generic "invalid" page.
    """
    reason = error.reason if error.genuine or error.status_code != 403 else "invalid"
    context = {"reason": reason, "message": error.message if error.genuine else None}
    return TemplateResponse(
        request, TEMPLATES.get(error.status_code, TEMPLATES[403]), context, status=error.status_code
    )


def get_refusal_handler(handler: RefusalHandler | str | None = None) -> RefusalHandler:
    """Return ``handler``, else TICKETOFFICE_REFUSAL_HANDLER, else :func:`refuse`."""
    handler = handler or app_settings.REFUSAL_HANDLER
    if handler is None:
        return refuse
    if isinstance(handler, str):
        resolved: RefusalHandler = import_member(handler)
        return resolved
    return handler


class InvitationRequiredMixin:
    """Class-based-view counterpart of ``@invitation_required``.

    Set ``place`` and ``purpose`` (and ``stamp = True`` to consume the ticket
    once the view succeeds). The ticket is ``self.ticket`` and ``request.ticket``.
    """

    place: str = ""
    purpose: str = ""
    stamp: bool = False
    refusal_handler: RefusalHandler | str | None = None

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        from .decorators import invitation_required, stamp_invitation

        view = super().as_view(**initkwargs)  # type: ignore[misc]
        if cls.stamp:
            view = stamp_invitation(view)
        return invitation_required(
            place=cls.place, purpose=cls.purpose, refusal_handler=cls.refusal_handler
        )(view)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        self.ticket = getattr(request, "ticket", None)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
