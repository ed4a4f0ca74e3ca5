"""Signals fire once, after commit, with the right arguments, and never carry a secret."""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import transaction
from django.http import HttpRequest
from django.test import Client

from django_ticketoffice.exceptions import TicketRevokedError
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket
from django_ticketoffice.signals import (
    ticket_issued,
    ticket_refused,
    ticket_revoked,
    ticket_used,
)

pytestmark = pytest.mark.django_db


class Recorder:
    """Connects to a signal and keeps every call's keyword arguments."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, sender, signal, **kwargs) -> None:
        self.calls.append({"sender": sender, **kwargs})


def record(signal) -> Iterator[Recorder]:
    recorder = Recorder()
    signal.connect(recorder)
    yield recorder
    signal.disconnect(recorder)


@pytest.fixture
def issued():
    yield from record(ticket_issued)


@pytest.fixture
def used():
    yield from record(ticket_used)


@pytest.fixture
def revoked():
    yield from record(ticket_revoked)


@pytest.fixture
def refused():
    yield from record(ticket_refused)


def test_ticket_issued_after_commit(issued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ticket, token = Ticket.objects.issue("louvre", "visit")
        assert issued.calls == []  # not before the commit
    assert issued.calls == [{"sender": Ticket, "ticket": ticket}]
    assert token not in repr(issued.calls)


def test_ticket_issued_not_sent_on_rollback(issued, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        Ticket.objects.issue("louvre", "visit")
        raise RuntimeError("rolled back")
    assert callbacks == []
    assert issued.calls == []
    assert not Ticket.objects.exists()


def test_ticket_used_by_use(used, django_capture_on_commit_callbacks):
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    with django_capture_on_commit_callbacks(execute=True):
        ticket.use()
        assert used.calls == []
    assert used.calls == [{"sender": Ticket, "ticket": ticket, "request": None, "use_number": 1}]


def test_ticket_used_by_a_view_carries_the_request(
    used, refused, stamp_cache, django_capture_on_commit_callbacks
):
    ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(ticket_url("louvre", token), follow=True)
    assert response.status_code == 200
    assert len(used.calls) == 1
    call = used.calls[0]
    assert call["ticket"].pk == ticket.pk
    assert isinstance(call["request"], HttpRequest)
    assert call["request"].path == "/louvre/"
    assert refused.calls == []


def test_failed_use_sends_nothing(used, django_capture_on_commit_callbacks):
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    ticket.revoke()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(TicketRevokedError):
        ticket.use()
    assert used.calls == []


def test_ticket_revoked_by_revoke(revoked, django_capture_on_commit_callbacks):
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    with django_capture_on_commit_callbacks(execute=True):
        assert ticket.revoke() is True
        assert revoked.calls == []
    assert revoked.calls == [{"sender": Ticket, "tickets": [ticket.uuid], "request": None}]


def test_revoking_twice_sends_once(revoked, django_capture_on_commit_callbacks):
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    with django_capture_on_commit_callbacks(execute=True):
        ticket.revoke()
        assert Ticket.objects.get(pk=ticket.pk).revoke() is False
    assert len(revoked.calls) == 1


def test_ticket_revoked_by_queryset_lists_the_revoked_uuids(
    revoked, django_capture_on_commit_callbacks
):
    tickets = [Ticket.objects.issue("louvre", "visit")[0] for _ in range(3)]
    tickets[0].use()
    with django_capture_on_commit_callbacks(execute=True):
        assert Ticket.objects.filter(place="louvre").revoke() == 2
    assert len(revoked.calls) == 1
    assert sorted(revoked.calls[0]["tickets"]) == sorted(t.uuid for t in tickets[1:])
    assert revoked.calls[0]["request"] is None


def test_ticket_revoked_by_the_admin_carries_the_request(
    admin_client, revoked, django_capture_on_commit_callbacks
):
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/django_ticketoffice/ticket/",
            {"action": "revoke", "_selected_action": [ticket.pk], "post": "yes"},
        )
    assert len(revoked.calls) == 1
    assert revoked.calls[0]["tickets"] == [ticket.uuid]
    assert revoked.calls[0]["request"].user.is_superuser


def test_ticket_refused_for_a_used_ticket(refused, stamp_cache):
    ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    ticket.use()
    response = Client().get(ticket_url("louvre", token))
    assert response.status_code == 403
    assert len(refused.calls) == 1
    call = refused.calls[0]
    assert call["sender"] is Ticket
    assert call["reason"] == "used"
    assert call["uuid"] == ticket.uuid
    assert (call["place"], call["purpose"]) == ("louvre", "visit")
    assert call["request"].path == "/louvre/"
    assert call["error"].reason == "used"
    secret = token  # the token holds the secret: no argument may repeat it
    for name, value in call.items():
        if name != "request":
            assert secret not in repr(value), name


def test_ticket_refused_for_a_forgery(refused):
    response = Client().get("/louvre/?ticket=not-a-real-token")
    assert response.status_code == 403
    assert len(refused.calls) == 1
    assert refused.calls[0]["reason"] == "invalid"
    assert refused.calls[0]["uuid"] is None
    assert "not-a-real-token" not in repr(
        {k: v for k, v in refused.calls[0].items() if k != "request"}
    )


def test_ticket_refused_for_a_signed_expired_token_names_the_ticket(refused):
    from datetime import timedelta

    from django.utils import timezone

    ticket, token = Ticket.objects.issue(
        "louvre", "visit", expiry_datetime=timezone.now() - timedelta(minutes=1)
    )
    response = Client().get(ticket_url("louvre", token))
    assert response.status_code == 403
    assert [(c["reason"], c["uuid"]) for c in refused.calls] == [("expired", ticket.uuid)]


def test_ticket_refused_from_the_session_names_the_ticket(refused, stamp_cache):
    ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    client = Client()
    assert client.get(ticket_url("peek", token)).status_code == 302
    ticket.revoke()
    assert client.get("/peek/").status_code == 403
    assert [(c["reason"], c["uuid"]) for c in refused.calls] == [("revoked", ticket.uuid)]


def test_ticket_refused_without_credentials(refused):
    assert Client().get("/louvre/").status_code == 401
    assert [call["reason"] for call in refused.calls] == ["missing"]


# The audit-log recipe of docs/operations.rst runs as written.


def audit_recipe() -> str:
    text = (Path(__file__).resolve().parent.parent / "docs" / "operations.rst").read_text()
    for block in re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text):
        if "myapp.audit" in block:
            return textwrap.dedent(block)
    raise AssertionError("docs/operations.rst lost its audit-log recipe")


def test_audit_log_recipe(caplog, admin_client, django_capture_on_commit_callbacks):
    namespace: dict = {"__name__": "audit_recipe"}
    exec(compile(audit_recipe(), "operations.rst", "exec"), namespace)  # noqa: S102
    receivers = {
        ticket_issued: namespace["log_issued"],
        ticket_used: namespace["log_used"],
        ticket_revoked: namespace["log_revoked"],
        ticket_refused: namespace["log_refused"],
    }
    caplog.set_level(logging.INFO, logger="myapp.audit")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "L"})
            other, _ = Ticket.objects.issue("louvre", "visit")
        with django_capture_on_commit_callbacks(execute=True):
            Client().get(ticket_url("louvre", token), follow=True)
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(
                "/admin/django_ticketoffice/ticket/",
                {"action": "revoke", "_selected_action": [other.pk], "post": "yes"},
            )
        Client().get(ticket_url("louvre", token))
    finally:
        for signal, receiver in receivers.items():
            assert signal.disconnect(receiver)
    records = [r for r in caplog.records if r.name == "myapp.audit"]
    assert [r.getMessage() for r in records] == [
        "ticket issued",
        "ticket issued",
        "ticket used",
        "tickets revoked",
        "ticket refused",
    ]
    assert records[2].uuid == str(ticket.uuid)
    assert records[3].uuids == [str(other.uuid)]
    assert records[3].user == "admin"
    assert (records[4].reason, records[4].uuid) == ("used", str(ticket.uuid))
    assert records[4].ip == "127.0.0.1"
    assert all(token not in repr(vars(r)) for r in records)
