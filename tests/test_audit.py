"""The audit trail (django_ticketoffice.contrib.audit).

tests/settings.py installs the app with TICKETOFFICE_AUDIT_ENABLED off, so that
the rest of the suite counts queries about tickets only; the ``audit``
fixture turns it on.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection
from django.dispatch import Signal
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_ticketoffice import signals
from django_ticketoffice.contrib.audit import clients, recording, writing
from django_ticketoffice.contrib.audit.checks import check_audit_settings
from django_ticketoffice.contrib.audit.models import TicketEvent
from django_ticketoffice.models import Ticket

pytestmark = pytest.mark.django_db

TABLE = TicketEvent._meta.db_table


@pytest.fixture
def audit(settings):
    settings.TICKETOFFICE_AUDIT_ENABLED = True
    settings.TICKETOFFICE_AUDIT_IP = "full"
    writing.counter.reset()
    yield settings
    writing.counter.reset()


@pytest.fixture
def frozen(monkeypatch):
    """A clock that only moves when told to (the counting windows are per minute)."""
    now = {"t": 1_800_000_000.0}
    monkeypatch.setattr(writing, "_clock", lambda: now["t"])
    return now


def link(path, token):
    return f"{path}?{urlencode({'ticket': token})}"


def audit_writes(queries):
    """INSERT and UPDATE statements on the event table."""
    return [
        q["sql"]
        for q in queries.captured_queries
        if TABLE in q["sql"] and q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]


def events(**filters):
    return list(TicketEvent.objects.filter(**filters).order_by("time", "pk"))


# One ticket's life -------------------------------------------------------------------------------


def test_a_ticket_life_is_recorded(audit, django_capture_on_commit_callbacks, admin_client):
    with django_capture_on_commit_callbacks(execute=True):
        ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Ada"})
    visitor = Client(HTTP_USER_AGENT="Museum browser/1.0", REMOTE_ADDR="203.0.113.7")
    with django_capture_on_commit_callbacks(execute=True):
        assert visitor.get(link("/louvre/", token)).status_code == 302
        assert visitor.get("/louvre/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert Client(REMOTE_ADDR="198.51.100.9").get(link("/louvre/", token)).status_code == 403
    other, _ = Ticket.objects.issue("louvre", "visit")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/django_ticketoffice/ticket/",
            {"action": "revoke", "_selected_action": [other.pk], "post": "yes"},
        )

    trail = events(ticket=ticket)
    assert [(e.kind, e.reason, e.count) for e in trail] == [
        ("issued", "", 1),
        ("admitted", "", 1),
        ("used", "", 1),
        ("refused", "used", 1),
    ]
    _issued, admitted, used, refused = trail
    assert (admitted.place, admitted.purpose) == ("louvre", "visit")
    assert (admitted.client_ip, admitted.user_agent) == ("203.0.113.7", "Museum browser/1.0")
    assert used.client_ip == "203.0.113.7"
    assert refused.client_ip == "198.51.100.9"
    assert admitted.window_start is not None and used.window_start is None
    [revoked] = events(ticket=other, kind="revoked")
    assert revoked.actor == "admin"
    assert token not in str([vars(e) for e in TicketEvent.objects.all()])


def test_nothing_is_recorded_when_disabled(settings, django_capture_on_commit_callbacks):
    settings.TICKETOFFICE_AUDIT_ENABLED = False
    with django_capture_on_commit_callbacks(execute=True):
        _ticket, token = Ticket.objects.issue("louvre", "visit")
        Client().get(link("/race/", token))
        Client().get(link("/race/", token))
    assert TicketEvent.objects.count() == 0


# Client addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "address", "stored"),
    [
        ("full", "203.0.113.7", "203.0.113.7"),
        ("truncate", "203.0.113.7", "203.0.113.0/24"),
        ("truncate", "2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("truncate", "::ffff:203.0.113.7", "203.0.113.0/24"),
        ("drop", "203.0.113.7", ""),
        ("full", "not an address", ""),
        ("truncate", None, ""),
    ],
)
def test_ip_modes(mode, address, stored):
    assert clients.anonymize_ip(address, mode) == stored


def test_hashed_addresses_are_keyed_and_stable(settings):
    first = clients.anonymize_ip("203.0.113.7", "hash")
    assert len(first) == 32 and "203" not in first
    assert clients.anonymize_ip("203.0.113.7", "hash") == first
    assert clients.anonymize_ip("203.0.113.8", "hash") != first
    settings.TICKETOFFICE_SECRET_KEY = "another signing key"
    assert clients.anonymize_ip("203.0.113.7", "hash") != first


def test_the_default_truncates(audit, settings, django_capture_on_commit_callbacks):
    del settings.TICKETOFFICE_AUDIT_IP
    _ticket, token = Ticket.objects.issue("louvre", "visit")
    Client(REMOTE_ADDR="203.0.113.7").get(link("/peek/", token))
    assert events(kind="admitted")[0].client_ip == "203.0.113.0/24"


# A flood is not a write flood --------------------------------------------------------------------


def test_forged_and_unknown_credentials_write_nothing(audit, frozen):
    ticket, token = Ticket.objects.issue("louvre", "visit")
    deleted, deleted_token = Ticket.objects.issue("louvre", "visit")
    deleted.delete()
    forged = [token[:-4] + "AAAA", token[:30], "garbage", deleted_token]
    visitor = Client()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(50):
            for bad in forged:
                assert visitor.get(link("/peek/", bad)).status_code == 403
        for _ in range(50):
            assert visitor.get(link("/peek/", "")).status_code in (401, 403)
        for _ in range(50):
            assert visitor.get(f"/peek/?uuid={ticket.uuid}&password=wrong").status_code == 403
    assert audit_writes(queries) == []
    assert TicketEvent.objects.count() == 0


def test_a_replay_flood_costs_a_few_writes(audit, frozen, django_capture_on_commit_callbacks):
    _ticket, token = Ticket.objects.issue("louvre", "visit")
    with django_capture_on_commit_callbacks(execute=True):
        assert Client().get(link("/race/", token)).status_code == 200
    TicketEvent.objects.all().delete()
    writing.counter.reset()
    replayer = Client()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(1000):
            assert replayer.get(link("/race/", token)).status_code == 403
    writes = audit_writes(queries)
    # The first refusal, each of the next nine, then counts 16, 32, ..., 512.
    assert len(writes) == 1 + 9 + 6, writes
    assert sum(w.lstrip().upper().startswith("INSERT") for w in writes) == 1
    [row] = events(kind="refused")
    assert (row.reason, row.count) == ("used", 512)

    # The next window: the last one's count is completed, a new row starts.
    frozen["t"] += 60
    with CaptureQueriesContext(connection) as queries:
        assert replayer.get(link("/race/", token)).status_code == 403
    assert len(audit_writes(queries)) == 2
    assert [e.count for e in events(kind="refused")] == [1000, 1]


def test_a_signed_expired_refusal_names_its_ticket(audit, frozen):
    # Refused from the token alone (no SQL for the check), its UUID built only
    # for the listener that records it.
    ticket, token = Ticket.objects.issue(
        "louvre", "visit", expiry_datetime=timezone.now() - timedelta(minutes=1)
    )
    assert Client().get(link("/peek/", token)).status_code == 403
    [row] = events(kind="refused")
    assert (row.ticket_id, row.reason, row.place, row.purpose) == (
        ticket.uuid,
        "expired",
        "louvre",
        "visit",
    )


def test_processes_share_one_row_per_window(audit, frozen):
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    others = writing.Counter()  # another process's counts
    for counter in (writing.counter, others, writing.counter, others, others):
        counter.add("refused", ticket.uuid, "louvre", "visit", "revoked", None)
    [row] = events(kind="refused")
    assert row.count == 5


def test_admissions_are_counted_too(audit, frozen):
    _ticket, token = Ticket.objects.issue("louvre", "visit")
    for _ in range(3):
        assert Client().get(link("/peek/", token)).status_code == 302
    [row] = events(kind="admitted")
    assert row.count == 3


def test_a_database_failure_never_fails_the_request(audit, monkeypatch, caplog):
    ticket, token = Ticket.objects.issue("louvre", "visit")

    def broken(*args, **kwargs):
        raise DatabaseError("the audit table is gone")

    monkeypatch.setattr(TicketEvent, "save", broken)
    caplog.set_level(logging.WARNING, logger="django_ticketoffice.audit")
    assert Client().get(link("/peek/", token)).status_code == 302
    assert "Could not record" in caplog.text
    assert Ticket.objects.filter(pk=ticket.pk).exists()  # the transaction survived


# Revocations in bulk, locks ----------------------------------------------------------------------


def test_bulk_revocation_records_in_one_insert(audit, django_capture_on_commit_callbacks):
    tickets = [Ticket.objects.issue("museum", "visit")[0] for _ in range(30)]
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert Ticket.objects.filter(place="museum").revoke() == 30
    assert len(audit_writes(queries)) == 1
    assert {e.ticket_id for e in events(kind="revoked")} == {t.uuid for t in tickets}


def test_ticket_locked_is_recorded_when_the_signal_exists(audit, monkeypatch):
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    locked = Signal()
    monkeypatch.setattr(signals, "ticket_locked", locked, raising=False)
    recording.connect()
    try:
        locked.send(sender=Ticket, ticket=ticket, reason="attempts", request=None)
        locked.send(sender=Ticket, uuid=ticket.uuid, request=None)
    finally:
        locked.disconnect(dispatch_uid="ticketoffice-audit-on_locked")
    assert [(e.kind, e.reason) for e in events(kind="locked")] == [
        ("locked", "attempts"),
        ("locked", ""),
    ]


# Admin -------------------------------------------------------------------------------------------


def test_the_ticket_page_shows_its_trail(audit, admin_client, frozen):
    ticket, token = Ticket.objects.issue("louvre", "visit")
    Client(HTTP_USER_AGENT="Trail browser").get(link("/peek/", token))
    response = admin_client.get(f"/admin/django_ticketoffice/ticket/{ticket.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Audit trail (newest events)" in page
    assert "Trail browser" in page
    assert "admitted" in page
    # The trail is read-only: no editable field, no delete box (only the row id).
    assert 'name="audit_events-0-id"' in page
    assert 'name="audit_events-0-kind"' not in page
    assert 'name="audit_events-0-DELETE"' not in page
    # The list of all events, searchable by uuid.
    Ticket.objects.issue("louvre", "visit")[1]
    response = admin_client.get("/admin/ticketoffice_audit/ticketevent/", {"q": str(ticket.uuid)})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    event = TicketEvent.objects.get()
    response = admin_client.get(f"/admin/ticketoffice_audit/ticketevent/{event.pk}/change/")
    assert response.status_code == 200
    assert str(ticket.uuid) in response.content.decode()
    assert 'name="kind"' not in response.content.decode()  # read-only


def test_the_add_page_has_no_trail(admin_client):
    response = admin_client.get("/admin/django_ticketoffice/ticket/add/")
    assert response.status_code == 200
    assert "Audit trail" not in response.content.decode()


# Purge -------------------------------------------------------------------------------------------


def test_purge_deletes_old_events_in_batches():
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    now = timezone.now()
    for days in (1, 10, 100, 200, 300):
        TicketEvent.objects.create(
            ticket_id=ticket.uuid, kind="used", time=now - timedelta(days=days)
        )
    out = io.StringIO()
    call_command("ticketoffice_purge_events", "--older-than", "90d", "--dry-run", stdout=out)
    assert "Would delete 3 events" in out.getvalue()
    assert TicketEvent.objects.count() == 5
    with CaptureQueriesContext(connection) as queries:
        call_command(
            "ticketoffice_purge_events", "--older-than", "90d", "--batch-size", "2", stdout=out
        )
    assert "Deleted 3 events" in out.getvalue()
    deletes = [q for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 2  # batches of 2
    assert sorted((now - e.time).days for e in TicketEvent.objects.all()) == [1, 10]


@pytest.mark.parametrize("bad", ["90", "-1d", "0d", "forever"])
def test_purge_needs_a_duration(bad):
    with pytest.raises(CommandError, match="--older-than"):
        call_command("ticketoffice_purge_events", "--older-than", bad)


# Checks ------------------------------------------------------------------------------------------


def test_checks(settings):
    assert check_audit_settings() == []
    settings.TICKETOFFICE_AUDIT_IP = "anonymize"
    settings.TICKETOFFICE_AUDIT_INTERVAL = 0
    assert [m.id for m in check_audit_settings()] == ["ticketoffice.W101", "ticketoffice.W102"]
