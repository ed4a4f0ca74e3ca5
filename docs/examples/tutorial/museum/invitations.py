from datetime import timedelta

from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket


def invite(first_name):
    """Issue an invitation to the museum and return the link to send to the guest."""
    _ticket, token = Ticket.objects.issue(
        "museum", "visit", data={"first_name": first_name}, lifetime=timedelta(days=7)
    )
    return ticket_url("museum:visit", token)


def cancel_invitations(first_name):
    """Revoke every valid invitation of a guest; return how many were revoked."""
    invitations = Ticket.objects.filter(place="museum", purpose="visit")
    return invitations.filter(data__first_name=first_name).revoke()
