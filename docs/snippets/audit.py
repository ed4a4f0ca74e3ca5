"""An audit log of tickets, from the signals. No signal ever carries a secret."""

import logging

from django.dispatch import receiver

from django_ticketoffice.signals import ticket_refused, ticket_revoked, ticket_used

audit = logging.getLogger("accounts.audit")


def client_address(request):
    return request.META.get("REMOTE_ADDR") if request is not None else None


@receiver(ticket_used, dispatch_uid="audit-ticket-used")
def log_use(sender, ticket, request, **kwargs):
    audit.info(
        "ticket %s (%s/%s) used from %s",
        ticket.uuid,
        ticket.place,
        ticket.purpose,
        client_address(request),
    )


@receiver(ticket_revoked, dispatch_uid="audit-ticket-revoked")
def log_revocation(sender, tickets, request, **kwargs):
    user = getattr(request, "user", None)
    audit.info(
        "%d ticket(s) revoked by %s: %s",
        len(tickets),
        user,
        ", ".join(str(uuid) for uuid in tickets),
    )


@receiver(ticket_refused, dispatch_uid="audit-ticket-refused")
def log_refusal(sender, reason, uuid, place, purpose, request, **kwargs):
    audit.warning(
        "ticket %s refused at %s/%s (%s) from %s",
        uuid,
        place,
        purpose,
        reason,
        client_address(request),
    )
