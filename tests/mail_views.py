"""The project side of one-click unsubscribe, for tests/test_contrib_unsubscribe.py."""

from django_ticketoffice.contrib.unsubscribe import UnsubscribeView

from .models import Visit

# Every call of the handler: (recipient, mailing list, ticket uuid, what the request showed).
calls: list[dict] = []


def unsubscribe(recipient, mailing_list, *, ticket, request):
    """Record the call; a Visit row counts the committed ones. ``fail@`` addresses fail."""
    calls.append(
        {
            "recipient": recipient,
            "list": mailing_list,
            "uuid": ticket.uuid,
            "query": request.META.get("QUERY_STRING", ""),
            "cookies": dict(request.COOKIES),
        }
    )
    if recipient.startswith("fail@"):
        raise RuntimeError("the mailing list service is down")
    Visit.objects.create(ticket_uuid=ticket.uuid)


unsubscribe_view = UnsubscribeView.as_view(handler=unsubscribe)
# No handler: TICKETOFFICE_UNSUBSCRIBE_HANDLER names one, or the view cannot work.
unsubscribe_by_setting = UnsubscribeView.as_view()
