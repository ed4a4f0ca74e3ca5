from django.shortcuts import render
from django.views.generic import TemplateView

from django_ticketoffice.decorators import invitation_required, stamp_invitation
from django_ticketoffice.views import InvitationRequiredMixin


@invitation_required(place="museum", purpose="visit")
@stamp_invitation(methods=["POST"])
def visit(request):
    guest = request.ticket.data["first_name"]
    if request.method == "POST":
        # Reached at most once per ticket: the ticket is now used.
        return render(request, "museum/confirmed.html", {"guest": guest})
    # GET only shows the page: a link scanner that opens it uses nothing.
    return render(request, "museum/visit.html", {"guest": guest})


class GalleryView(InvitationRequiredMixin, TemplateView):
    """Admits guests with a valid invitation, without using it (no ``stamp = True``)."""

    place = "museum"
    purpose = "visit"
    template_name = "museum/gallery.html"


def ask(request):
    """Where the refusal page of an expired, used or revoked invitation points."""
    return render(request, "museum/ask.html")
