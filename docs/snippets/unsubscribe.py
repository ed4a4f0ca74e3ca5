"""How-to: one-click unsubscribe links (RFC 8058) backed by tickets."""

from datetime import timedelta

from django.shortcuts import render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from django_ticketoffice.decorators import invitation_required, stamp_invitation
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket
from django_ticketoffice.views import refuse


# [issue]
def unsubscribe_headers(email, newsletter):
    """Headers for one newsletter email: a link that unsubscribes in one POST."""
    _ticket, token = Ticket.objects.issue(
        "newsletter",
        "unsubscribe",
        data={"email": email, "newsletter": newsletter},
        lifetime=timedelta(days=90),
    )
    url = ticket_url("unsubscribe", token)
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def is_unsubscribed(email, newsletter):
    """A used unsubscribe ticket is the record of the opt-out."""
    return (
        Ticket.objects.used()
        .filter(place="newsletter", purpose="unsubscribe", data__email=email)
        .filter(data__newsletter=newsletter)
        .exists()
    )


# [/issue]


# [view]
def already_unsubscribed(request, error):
    """A second click is not an error: the address is already unsubscribed."""
    if error.reason == "used":
        return render(request, "newsletter/unsubscribed.html")
    return refuse(request, error)


# Mail clients POST without cookies or CSRF token: the ticket is the credential,
# so the view reads it from the URL every time (redirect=False) and skips CSRF.
@csrf_exempt
@invitation_required(
    place="newsletter",
    purpose="unsubscribe",
    redirect=False,
    refusal_handler=already_unsubscribed,
)
@stamp_invitation(methods=["POST"])
def unsubscribe(request):
    if request.method == "POST":
        return render(request, "newsletter/unsubscribed.html")
    # GET (a person, or a link scanner) only shows the button.
    return render(request, "newsletter/confirm.html", {"data": request.ticket.data})


# [/view]

urlpatterns = [path("unsubscribe/", unsubscribe, name="unsubscribe")]
