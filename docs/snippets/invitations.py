"""The tutorial: issue invitations, send their links, admit guests, confirm once."""

from datetime import timedelta

from django.shortcuts import render
from django.urls import path
from django.views.generic import TemplateView

from django_ticketoffice.decorators import invitation_required, stamp_invitation
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket
from django_ticketoffice.views import InvitationRequiredMixin


# [issue]
def invite(first_name):
    """Issue an invitation to the museum and return the link to send to the guest."""
    _ticket, token = Ticket.objects.issue(
        "museum", "visit", data={"first_name": first_name}, lifetime=timedelta(days=7)
    )
    return ticket_url("visit", token)


# [/issue]


# [view]
@invitation_required(place="museum", purpose="visit")
@stamp_invitation(methods=["POST"])
def visit(request):
    guest = request.ticket.data["first_name"]
    if request.method == "POST":
        # Only reached once: the ticket is now used.
        return render(request, "museum/confirmed.html", {"guest": guest})
    return render(request, "museum/visit.html", {"guest": guest})


# [/view]


# [cbv]
class GalleryView(InvitationRequiredMixin, TemplateView):
    """Admits museum visitors without using their ticket (no ``stamp = True``)."""

    place = "museum"
    purpose = "visit"
    template_name = "museum/gallery.html"


# [/cbv]

# [urls]
urlpatterns = [
    path("visit/", visit, name="visit"),
    path("gallery/", GalleryView.as_view(), name="gallery"),
]
# [/urls]
