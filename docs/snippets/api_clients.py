"""How-to: tickets for API clients, presented in the Authorization header."""

from django.db import transaction
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from django_ticketoffice.exceptions import TicketError
from django_ticketoffice.models import Ticket
from django_ticketoffice.verification import verify_token


# [issue]
def issue_download_token(file_name):
    """A token that lets one API call download ``file_name``, once."""
    _ticket, token = Ticket.objects.issue("api", "download", data={"file": file_name})
    return token


# [/issue]


# [view]
@csrf_exempt  # no cookies: the token in the header is the credential
@require_POST
def download(request):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Ticket" or not token:
        return JsonResponse({"error": "missing"}, status=401)
    try:
        with transaction.atomic():
            ticket = verify_token(token, "api", "download")
            ticket.use(request=request)  # atomic: one of two concurrent calls fails
    except TicketError as error:
        return JsonResponse({"error": error.reason}, status=error.status_code)
    return JsonResponse({"file": ticket.data["file"]})


# [/view]

urlpatterns = [path("api/download/", download, name="api-download")]
