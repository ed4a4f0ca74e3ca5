"""How-to: a link that works a few times, for a few days."""

from datetime import timedelta

from django.http import HttpResponse
from django.urls import path

from django_ticketoffice.decorators import invitation_required, stamp_invitation
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket


# [issue]
def share_report(report_id, max_uses=3):
    """A link that downloads the report ``max_uses`` times within a week.

    ``max_uses=None``: any number of times until the link expires (a ticket
    with unlimited uses needs an expiry).
    """
    _ticket, token = Ticket.objects.issue(
        "reports",
        "download",
        data={"report_id": report_id},
        max_uses=max_uses,
        lifetime=timedelta(days=7),
    )
    return ticket_url("report-download", token)


# [/issue]


# [view]
@invitation_required(place="reports", purpose="download")
@stamp_invitation
def download(request):
    ticket = request.ticket
    report_id = ticket.data["report_id"]
    response = HttpResponse(f"report {report_id}\n", content_type="text/plain")
    response["Content-Disposition"] = f'attachment; filename="report-{report_id}.txt"'
    # ticket.uses counts this use too; ticket.uses_left is what remains (None: no limit).
    if ticket.uses_left is not None:
        response["X-Downloads-Left"] = str(ticket.uses_left)
    return response


# [/view]

urlpatterns = [path("reports/download/", download, name="report-download")]
