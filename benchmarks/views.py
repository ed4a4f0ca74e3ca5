"""Views measured by the benchmarks: two floors and the protected views."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseForbidden

from django_ticketoffice.decorators import invitation_required, stamp_invitation
from django_ticketoffice.exceptions import CredentialsError
from django_ticketoffice.views import protect_response, refuse

PLACE = "bench"
PURPOSE = "visit"

# A fixed page about the size of ticketoffice/403.html, without any template work.
FORBIDDEN_PAGE = (
    "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Forbidden</title>"
    "</head><body><h1>Forbidden</h1><p>This ticket is not valid.</p></body></html>"
)


def bare(request):
    """The floor of every request: a plain view."""
    return HttpResponse("ok")


def forbidden(request):
    """The floor of a refusal: a fixed 403 page."""
    return HttpResponseForbidden(FORBIDDEN_PAGE)


def refusal_page(request):
    """Diagnostic: the library's own 403 page (template and headers), with no ticket check."""
    return protect_response(refuse(request, CredentialsError("Invalid ticket token.")))


@invitation_required(PLACE, PURPOSE)
@stamp_invitation
def stamp(request):
    """The one-shot view: credential request, redirect, then the stamped view."""
    return HttpResponse("welcome")


@invitation_required(PLACE, PURPOSE, redirect=False)
@stamp_invitation
def stamp_direct(request):
    """The same view without the redirect: one request consumes a ticket (load tests)."""
    return HttpResponse("welcome")


@invitation_required(PLACE, PURPOSE, redirect=False)
def peek(request):
    """Admit without consuming: for verification at scale."""
    return HttpResponse("peek")
