"""Helpers of the topology tests' server: issue, use and revoke tickets, count visits.

``count_queries`` adds ``X-Queries`` (SQL statements run by the request, on
every database) and ``X-Databases`` (statements per alias) to every response,
so a test can assert "0 SQL" from outside the server process.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import ExitStack
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.db import connections
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from django_ticketoffice.models import Ticket
from tests.models import Visit

PRIMARY = "default"


def count_queries(get_response):
    def middleware(request):
        counts: Counter[str] = Counter()

        def wrapper_for(alias):
            def wrapper(execute, sql, params, many, context):
                counts[alias] += 1
                return execute(sql, params, many, context)

            return wrapper

        with ExitStack() as stack:
            for alias in settings.DATABASES:
                stack.enter_context(connections[alias].execute_wrapper(wrapper_for(alias)))
            response = get_response(request)
        response["X-Queries"] = str(sum(counts.values()))
        response["X-Databases"] = ",".join(f"{a}={n}" for a, n in sorted(counts.items()))
        return response

    return middleware


def health(request):
    return HttpResponse("ok")


def _uuids(request):
    return json.loads(request.body)["uuids"]


def _tickets(request):
    uuids = _uuids(request)
    tickets = {str(t.uuid): t for t in Ticket.objects.primary().filter(uuid__in=uuids)}
    return [tickets[u] for u in uuids]


@csrf_exempt
def issue(request):
    count = int(request.GET.get("count", "1"))
    issued = [
        Ticket.objects.issue(
            "louvre", "visit", data={"first_name": "Ada"}, lifetime=timedelta(hours=1)
        )
        for _ in range(count)
    ]
    return JsonResponse({"tickets": [{"uuid": str(t.uuid), "token": k} for t, k in issued]})


@csrf_exempt
def use(request):
    for ticket in _tickets(request):
        ticket.use()  # autocommit: the stamp follows at once
    return JsonResponse({"ok": True})


@csrf_exempt
def revoke(request):
    revoked = [ticket.revoke() for ticket in _tickets(request)]
    return JsonResponse({"revoked": revoked})


@csrf_exempt
def visits(request):
    """Visit rows and usage per ticket, read on the primary."""
    uuids = _uuids(request)
    rows = Counter(
        str(u)
        for u in Visit.objects.using(PRIMARY)
        .filter(ticket_uuid__in=uuids)
        .values_list("ticket_uuid", flat=True)
    )
    used = {
        str(u): used is not None
        for u, used in Ticket.objects.primary()
        .filter(uuid__in=uuids)
        .values_list("uuid", "usage_datetime")
    }
    return JsonResponse({u: {"visits": rows[u], "used": used.get(u)} for u in uuids})


@csrf_exempt
def login_staff(request):
    """Log a superuser in (created on the primary), for the admin's own pages."""
    user, _ = (
        get_user_model()
        .objects.db_manager(PRIMARY)
        .get_or_create(username="staff", defaults={"is_staff": True, "is_superuser": True})
    )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse("logged in")
