"""Revoking tickets from code. Each takes effect at once, in every process."""

from django_ticketoffice.models import Ticket


def revoke_invitation(ticket_uuid):
    """Revoke one ticket. False if it was already used or revoked."""
    ticket = Ticket.objects.get(uuid=ticket_uuid)
    return ticket.revoke()


def cancel_event_invitations():
    """Revoke every valid museum invitation at once; returns how many."""
    return Ticket.objects.filter(place="museum", purpose="visit").valid().revoke()


def revoke_invitations_for(first_name):
    """Revoke by what the ticket's data says."""
    return Ticket.objects.filter(
        place="museum", purpose="visit", data__first_name=first_name
    ).revoke()
