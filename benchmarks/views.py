"""The library's views and django-sesame's, as a project would write them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse

from django_ticketoffice.decorators import invitation_required, stamp_invitation

PLACE = "bench"
PURPOSE = "visit"


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


@login_required
def sesame_welcome(request):
    """django-sesame's follow-up: the user that its LoginView logged in."""
    return HttpResponse("welcome")


def bare(request):
    """A plain view (the end-to-end runs' control)."""
    return HttpResponse("ok")
