from datetime import timedelta

from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket


def invite(name):
    """Issue an invitation and return its link. Send it now: it cannot be recovered."""
    _ticket, token = Ticket.objects.issue(
        "museum", "visit", data={"name": name}, lifetime=timedelta(days=7)
    )
    return ticket_url("visit", token)
