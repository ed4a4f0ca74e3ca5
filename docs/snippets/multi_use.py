"""How-to: a link that works a few times, for a few days."""

from datetime import timedelta

from django.http import FileResponse
from django.urls import path

from django_ticketoffice.decorators import invitation_required, stamp_invitation
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket


# [issue]
def share_report(report_id):
    """A link that downloads the report three times within a week."""
    _ticket, token = Ticket.objects.issue(
        "reports",
        "download",
        data={"report_id": report_id},
        max_uses=3,
        lifetime=timedelta(days=7),
    )
    return ticket_url("report-download", token)


def open_house_link():
    """Any number of visits until Sunday night: unlimited uses need an expiry."""
    _ticket, token = Ticket.objects.issue(
        "museum", "open-house", max_uses=None, lifetime=timedelta(days=3)
    )
    return ticket_url("/open-house/", token)


# [/issue]


# [view]
@invitation_required(place="reports", purpose="download")
@stamp_invitation
def download(request):
    ticket = request.ticket
    # ticket.uses counts this use too; ticket.uses_left is what remains.
    response = FileResponse(
        iter([f"report {ticket.data['report_id']}\n".encode()]), content_type="text/plain"
    )
    response["X-Downloads-Left"] = str(ticket.uses_left)
    return response


# [/view]

urlpatterns = [path("reports/download/", download, name="report-download")]
