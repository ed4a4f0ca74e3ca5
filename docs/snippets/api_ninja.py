"""How-to: tickets as Django Ninja authentication."""

from datetime import timedelta

from django.urls import path
from ninja import NinjaAPI

from django_ticketoffice.contrib.ninja import TicketAuth, consume_ticket, handle_refusals
from django_ticketoffice.models import Ticket


# [issue]
def issue_export_token(report_id):
    _ticket, token = Ticket.objects.issue(
        "reports", "export", data={"report": report_id}, lifetime=timedelta(hours=1)
    )
    return token


# [/issue]


# [api]
api = NinjaAPI(urls_namespace="exports")
handle_refusals(api)  # {"detail", "code"} bodies, WWW-Authenticate on 401

export_ticket = TicketAuth(place="reports", purpose="export")


@api.get("/report", auth=export_ticket)
def report(request):
    # Reading does not use the ticket.
    return {"report": request.auth.data["report"]}


@api.post("/export", auth=export_ticket)
@consume_ticket
def export(request):
    # The ticket is used once Ninja has built this successful response.
    return {"report": request.auth.data["report"], "status": "exported"}


@api.post("/export-async", auth=export_ticket)
@consume_ticket
async def export_async(request):
    return {"report": request.auth.data["report"], "status": "exported"}


# [/api]

# Under ninja/ here, beside the REST framework guide's api/: in your project,
# mount it where you like.
urlpatterns = [path("ninja/", api.urls)]
