"""Regression tests for bugs found in review: each failed before its fix."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views import View

from django_ticketoffice.admin import TicketAdmin
from django_ticketoffice.forms import TicketChangeForm
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket
from django_ticketoffice.tokens import read_token
from django_ticketoffice.verification import password_credentials
from django_ticketoffice.views import InvitationRequiredMixin

pytestmark = pytest.mark.django_db

ADD = reverse("admin:django_ticketoffice_ticket_add")


# Secrets never leak -------------------------------------------------------------


def test_credentials_repr_does_not_reveal_the_secret():
    ticket, token = Ticket.objects.issue("louvre", "visit")
    credentials = read_token(token, "louvre", "visit")
    assert credentials.secret
    assert credentials.secret not in repr(credentials)
    assert str(ticket.uuid) in repr(credentials)
    unsigned = password_credentials(str(ticket.uuid), "I love Paris")
    assert "I love Paris" not in repr(unsigned)


# Class-based views --------------------------------------------------------------


class Museum(InvitationRequiredMixin, View):
    place = "louvre"
    purpose = "visit"

    def get(self, request):
        return HttpResponse(f"{self.place} {self.ticket.place}")


def test_mixin_admits_the_place_given_to_as_view():
    """``as_view(place=...)`` configures the view; admission must check that place."""
    view = Museum.as_view(place="orsay")
    _, orsay_token = Ticket.objects.issue("orsay", "visit")
    _, louvre_token = Ticket.objects.issue("louvre", "visit")
    factory = RequestFactory()
    # No session on a bare request: the view runs without the redirect.
    louvre = view(factory.get("/", {"ticket": louvre_token}))
    orsay = view(factory.get("/", {"ticket": orsay_token}))
    assert louvre.status_code == 403
    assert orsay.status_code == 200
    assert orsay.content == b"orsay orsay"


def test_mixin_stamps_when_as_view_asks_for_it():
    view = Museum.as_view(stamp=True)
    ticket, token = Ticket.objects.issue("louvre", "visit")
    factory = RequestFactory()
    assert view(factory.get("/", {"ticket": token})).status_code == 200
    ticket.refresh_from_db()
    assert ticket.usage_datetime is not None
    assert view(factory.get("/", {"ticket": token})).status_code == 403


# Admin: editing data never undoes a use or a revocation -------------------------------


def test_admin_data_edit_does_not_resurrect_a_revoked_ticket(rf, admin_user):
    ticket, _ = Ticket.objects.issue("louvre", "visit", data={"seat": 1})
    # The admin loaded the ticket for its POST; meanwhile a visitor used it.
    loaded = Ticket.objects.get(pk=ticket.pk)
    Ticket.objects.get(pk=ticket.pk).use()
    form = TicketChangeForm(instance=loaded, data={"data": '{"seat": 2}'})
    assert form.is_valid(), form.errors
    obj = form.save(commit=False)
    request = rf.post("/")
    request.user = admin_user
    TicketAdmin(Ticket, admin.site).save_model(request, obj, form, change=True)
    ticket.refresh_from_db()
    assert ticket.data == {"seat": 2}
    assert ticket.usage_datetime is not None, "the admin save made a used ticket valid again"


# Bad input in the admin and the commands: form errors and CommandError, never a traceback --


def test_admin_add_far_future_expiry_is_a_form_error(admin_client):
    response = admin_client.post(
        ADD,
        {
            "place": "louvre",
            "purpose": "visit",
            "expiry_datetime_0": "2200-01-01",
            "expiry_datetime_1": "12:00:00",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["expiry_datetime"]
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize("lifetime", ["99999999d", "9999999999d", "999999999999999999999w"])
def test_admin_add_huge_lifetime_is_a_form_error(admin_client, lifetime):
    response = admin_client.post(ADD, {"place": "louvre", "purpose": "visit", "lifetime": lifetime})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["lifetime"]
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize("lifetime", ["99999999d", "9999999999d", "50000w"])
def test_issue_command_huge_lifetime_is_a_command_error(lifetime):
    with pytest.raises(CommandError, match="--lifetime"):
        call_command(
            "ticketoffice_issue",
            "--place=louvre",
            "--purpose=visit",
            f"--lifetime={lifetime}",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize("older_than", ["99999999d", "9999999999d"])
def test_clean_tickets_huge_older_than_is_a_command_error(older_than):
    with pytest.raises(CommandError, match="--older-than"):
        call_command(
            "clean_tickets",
            f"--older-than={older_than}",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )


@pytest.mark.parametrize("data", ['{"seat": NaN}', "Infinity", "[-Infinity]"])
def test_issue_command_refuses_non_standard_json(data):
    """PostgreSQL's jsonb rejects NaN and Infinity: refuse them before writing."""
    with pytest.raises(CommandError, match="--data"):
        call_command(
            "ticketoffice_issue",
            "--place=louvre",
            "--purpose=visit",
            f"--data={data}",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize("data", ['{"seat": NaN}', "Infinity"])
def test_admin_refuses_non_standard_json(admin_client, data):
    response = admin_client.post(ADD, {"place": "louvre", "purpose": "visit", "data": data})
    assert response.status_code == 200
    assert "Enter valid JSON" in " ".join(response.context["adminform"].form.errors["data"])
    assert Ticket.objects.count() == 0


def test_non_standard_json_really_breaks_the_database():
    """Why the two tests above matter: neither PostgreSQL nor SQLite stores the row."""
    from django.db import DataError, IntegrityError, transaction

    with pytest.raises((DataError, IntegrityError)), transaction.atomic():
        Ticket.objects.issue("louvre", data={"seat": float("nan")})


# Links ----------------------------------------------------------------------------


def test_ticket_url_with_base_url_and_a_colon_in_the_first_segment(settings):
    settings.TICKETOFFICE_BASE_URL = "https://tickets.example"
    url = ticket_url("/room:12/enter/", "TOKEN")
    assert url == "https://tickets.example/room:12/enter/?ticket=TOKEN"


def test_ticket_url_with_base_url_keeps_an_absolute_result(settings):
    settings.TICKETOFFICE_BASE_URL = "https://tickets.example/"
    assert ticket_url("louvre", "T") == "https://tickets.example/louvre/?ticket=T"


def test_lifetime_for_an_expiry_the_token_can_carry_still_works():
    """The fixes refuse only what cannot work: a 50-year ticket still issues."""
    ticket, token = Ticket.objects.issue("louvre", lifetime=timedelta(days=365 * 50))
    assert read_token(token, "louvre", "").uuid == ticket.uuid
    assert ticket.expiry_datetime > timezone.now()


# Exactly once with ATOMIC_REQUESTS=True (PostgreSQL row locks) ------------------------


@pytest.fixture
def atomic_requests(monkeypatch):
    from django.db import connections

    # Every thread opens its own connection from these settings.
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", True)
    monkeypatch.setitem(connections["default"].settings_dict, "ATOMIC_REQUESTS", True)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cache", ["redis", "locmem"])
def test_atomic_requests_twenty_requests_one_visit(
    postgres, atomic_requests, request, settings, cache
):
    from urllib.parse import urlencode

    from django.test import Client

    from tests.models import Visit
    from tests.test_concurrency import run_together

    if cache == "redis":
        request.getfixturevalue("redis")
    else:
        settings.TICKETOFFICE_CACHE = "default"
    ticket, token = Ticket.objects.issue("louvre", "visit", lifetime=timedelta(hours=1))
    address = f"/race/?{urlencode({'ticket': token})}"
    statuses = run_together(20, lambda: Client().get(address).status_code)
    assert sorted(statuses) == [200] + [403] * 19, statuses
    assert Visit.objects.filter(ticket_uuid=ticket.uuid).count() == 1
    assert Client().get(address).status_code == 403
    assert Visit.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_atomic_requests_failed_view_leaves_the_ticket_valid_and_unstamped(atomic_requests, redis):
    from django.test import Client

    from django_ticketoffice.stamps import get_store

    ticket, token = Ticket.objects.issue(
        "louvre", "visit", data={"first_name": "Léonard"}, lifetime=timedelta(hours=1)
    )
    client = Client(raise_request_exception=False)
    assert client.get("/boom/", {"ticket": token}).status_code == 302
    assert client.get("/boom/").status_code == 500
    ticket.refresh_from_db()
    assert ticket.usage_datetime is None
    assert get_store().lookup(ticket.uuid) is None
    assert redis.exists(get_store().claim_key(ticket.uuid)) == 0
    assert Client().get("/louvre/", {"ticket": token}, follow=True).status_code == 200
    ticket.refresh_from_db()
    assert ticket.usage_datetime is not None
