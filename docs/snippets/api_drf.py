"""How-to: tickets as Django REST framework authentication."""

from datetime import timedelta

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.response import Response
from rest_framework.views import APIView

from django_ticketoffice.contrib.rest_framework import (
    HasTicket,
    TicketAuthentication,
    consume_ticket,
)
from django_ticketoffice.models import Ticket


# [auth]
class ExportTicket(TicketAuthentication):
    """Tickets that let a script fetch one report export."""

    place = "reports"
    purpose = "export"


def issue_export_token(report_id):
    _ticket, token = Ticket.objects.issue(
        "reports", "export", data={"report": report_id}, lifetime=timedelta(hours=1)
    )
    return token


# [/auth]


# [function-view]
@api_view(["POST"])
@authentication_classes([ExportTicket])
@permission_classes([HasTicket])
@consume_ticket
def export(request):
    # request.auth is the ticket; the ticket is used once this 200 has rendered.
    return Response({"report": request.auth.data["report"], "status": "exported"})


# [/function-view]


# [class-view]
class ReportView(APIView):
    authentication_classes = [ExportTicket]
    permission_classes = [HasTicket]

    def get(self, request):
        # Reading does not use the ticket.
        return Response({"report": request.auth.data["report"]})

    @consume_ticket
    def delete(self, request):
        return Response(status=204)


# [/class-view]

urlpatterns = [
    path("api/export/", export),
    path("api/report/", ReportView.as_view()),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
]
