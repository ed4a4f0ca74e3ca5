"""Code written for 0.2, and its 1.0 spelling."""

from datetime import timedelta
from urllib.parse import urlencode

from django.http import HttpResponse
from django.urls import path, reverse
from django.utils.timezone import now

from django_ticketoffice.decorators import invitation_required, stamp_invitation
from django_ticketoffice.exceptions import TicketError
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket


# [view-0.2]
@invitation_required(place="louvre", purpose="visit")
@stamp_invitation
def visit_louvre(request):
    ticket = request.cache["invitation"]  # still works in 1.0
    return HttpResponse(f"Welcome to the Louvre museum {ticket.data['first_name']}")


# [/view-0.2]


# [view-1.0]
@invitation_required(place="louvre", purpose="visit")
@stamp_invitation(methods=["POST"])
def visit(request):
    ticket = request.ticket  # request.user is left alone: no GuestUser
    if request.method == "POST":
        return HttpResponse(f"See you soon, {ticket.data['first_name']}")
    return HttpResponse('<form method="post">...<button>Confirm</button></form>')


# [/view-1.0]


# [issue-0.2]
def invite_0_2():
    ticket = Ticket(place="louvre", purpose="visit")
    ticket.set_password("I love Paris")  # a chosen password: hashed with Django's hashers
    ticket.expiry_datetime = now() + timedelta(days=5)
    ticket.data = {"first_name": "Léonard"}
    ticket.save()
    credentials = {"uuid": ticket.uuid, "password": "I love Paris"}
    return reverse("louvre") + "?" + urlencode(credentials)


# [/issue-0.2]


# [issue-1.0]
def invite_1_0():
    _ticket, token = Ticket.objects.issue(
        "louvre", "visit", data={"first_name": "Léonard"}, lifetime=timedelta(days=5)
    )
    return ticket_url("louvre", token)


# [/issue-1.0]


# [authenticate]
def check(uuid, password):
    try:
        return Ticket.objects.authenticate(uuid, password, place="louvre", purpose="visit")
    except TicketError as error:  # new in 1.0: one base class for every refusal
        return error.reason  # "invalid", "used", "expired", "revoked", ...


# [/authenticate]

urlpatterns = [
    path("louvre/", visit_louvre, name="louvre"),
    path("visit/", visit, name="visit-1.0"),
]
