"""How-to: attempt limits on codes and 0.2 passwords: an alert when a ticket locks; unlocking."""

import logging

from django.dispatch import receiver

from django_ticketoffice.signals import ticket_locked

security = logging.getLogger("accounts.security")


# [signal]
@receiver(ticket_locked, dispatch_uid="alert-ticket-locked")
def alert_on_lock(sender, ticket, credential, **kwargs):
    security.warning("ticket %s locked after too many wrong %ss", ticket.uuid, credential)


# [/signal]


# [unlock]
def unlock_for_the_holder(ticket):
    """After checking who asks: unlock and reset the count (or issue a new ticket)."""
    return ticket.unlock()  # False if it was not locked


# [/unlock]
