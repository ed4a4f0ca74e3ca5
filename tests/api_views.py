"""API views for the integration tests: Django REST framework and Django Ninja.

Each consuming view writes a Visit row, so a test can count how many times
its body ran.
"""

from asgiref.sync import sync_to_async
from django.http import HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import HttpError
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.response import Response
from rest_framework.views import APIView

from django_ticketoffice.contrib.ninja import (
    TicketAuth,
    TicketBearerAuth,
    consume_ticket,
    handle_refusals,
)
from django_ticketoffice.contrib.rest_framework import (
    HasTicket,
    TicketAuthentication,
)
from django_ticketoffice.contrib.rest_framework import (
    consume_ticket as drf_consume_ticket,
)

from .models import Visit

PLACE, PURPOSE = "api", "download"


# Django REST framework -------------------------------------------------------------


class DownloadTicket(TicketAuthentication):
    place = PLACE
    purpose = PURPOSE


@api_view(["GET", "POST"])
@authentication_classes([DownloadTicket])
@permission_classes([HasTicket])
@drf_consume_ticket(methods=["POST"])
def drf_download(request):
    """POST uses the ticket once; GET only shows it."""
    if request.method == "POST":
        Visit.objects.create(ticket_uuid=request.auth.uuid)
    return Response(
        {
            "file": request.auth.data.get("file"),
            "uuid": str(request.auth.uuid),
            "same": request.auth is request.ticket,
            "authenticated": request.user.is_authenticated,
        }
    )


@api_view(["GET"])
@authentication_classes([DownloadTicket])
@permission_classes([HasTicket])
def drf_peek(request):
    """Admits without using."""
    return Response({"uuid": str(request.auth.uuid)})


class Unrenderable:
    """Data that the JSON renderer cannot encode: rendering fails after the view returned."""


class DrfDownloadView(APIView):
    """A class-based view: ``?status=`` picks the answer, ``?raise`` raises, ``?unrenderable``."""

    authentication_classes = [DownloadTicket]
    permission_classes = [HasTicket]

    @drf_consume_ticket
    def post(self, request):
        Visit.objects.create(ticket_uuid=request.auth.uuid)
        if "raise" in request.query_params:
            raise RuntimeError("the API view failed")
        if "unrenderable" in request.query_params:
            return Response({"oops": Unrenderable()})
        return Response({"ok": True}, status=int(request.query_params.get("status", 200)))


@api_view(["POST"])
@authentication_classes([DownloadTicket])
@drf_consume_ticket
def drf_unguarded(request):
    """No HasTicket: consume_ticket itself refuses a request without a ticket."""
    return Response({"ok": True})


# Django Ninja -------------------------------------------------------------------------

ninja_api = NinjaAPI(urls_namespace="tests-ninja", title="Tests", version="1.0.0")
handle_refusals(ninja_api)
download_auth = TicketAuth(PLACE, PURPOSE)


@ninja_api.post("/download", auth=download_auth)
@consume_ticket
def ninja_download(request):
    Visit.objects.create(ticket_uuid=request.auth.uuid)
    return {"file": request.auth.data.get("file"), "same": request.auth is request.ticket}


@ninja_api.get("/peek", auth=download_auth)
def ninja_peek(request):
    return {"uuid": str(request.auth.uuid)}


@ninja_api.post("/fail/{status}", auth=download_auth)
@consume_ticket
def ninja_fail(request, status: int):
    Visit.objects.create(ticket_uuid=request.auth.uuid)
    if status >= 400:
        raise HttpError(status, "the operation failed")
    if status in (302, 304):
        return HttpResponse(status=status, headers={"Location": "/elsewhere/"})
    return JsonResponse({"status": status}, status=status)


@ninja_api.post("/boom", auth=download_auth)
@consume_ticket
def ninja_boom(request):
    Visit.objects.create(ticket_uuid=request.auth.uuid)
    raise RuntimeError("the operation failed")


@ninja_api.post("/async-download", auth=download_auth)
@consume_ticket
async def ninja_async_download(request):
    await sync_to_async(Visit.objects.create)(ticket_uuid=request.auth.uuid)
    return {"file": request.auth.data.get("file")}


@ninja_api.post("/bearer", auth=TicketBearerAuth(PLACE, PURPOSE))
@consume_ticket
def ninja_bearer(request):
    return {"file": request.auth.data.get("file")}
