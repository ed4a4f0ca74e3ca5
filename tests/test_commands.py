"""Management commands: ticketoffice_issue, ticketoffice_revoke and clean_tickets."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_ticketoffice.models import Ticket
from django_ticketoffice.signals import ticket_issued
from django_ticketoffice.stamps import get_store
from django_ticketoffice.tokens import read_token

pytestmark = pytest.mark.django_db


class TTY(io.StringIO):
    """A captured stream that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def run(*args: str, stderr: io.StringIO | None = None, stdout: io.StringIO | None = None) -> str:
    stdout = stdout or io.StringIO()
    call_command(*args, stdout=stdout, stderr=stderr or io.StringIO())
    return stdout.getvalue()


LOUVRE = ("--place=louvre", "--purpose=visit")


def ago(**kwargs: int):
    return timezone.now() - timedelta(**kwargs)


# ticketoffice_issue -------------------------------------------------------------


def test_issue_prints_one_token(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        output = run(
            "ticketoffice_issue",
            "--place=louvre",
            "--purpose=visit",
            '--data={"first_name": "Léonard"}',
            "--lifetime=2h",
        )
    token = output.strip()
    ticket = Ticket.objects.get()
    assert read_token(token, "louvre", "visit").uuid == ticket.uuid
    assert ticket.data == {"first_name": "Léonard"}
    assert ticket.password.startswith("ticketoffice_sha256$")
    assert token not in ticket.password
    remaining = ticket.expiry_datetime - timezone.now()
    assert timedelta(hours=1, minutes=59) < remaining <= timedelta(hours=2)
    # The printed token really admits its bearer.
    client = Client()
    response = client.get(f"/louvre/?ticket={token}", follow=True)
    assert response.content.decode().endswith("Léonard")


def test_issue_prints_urls(settings):
    output = run("ticketoffice_issue", "--place=louvre", "--purpose=visit", "--url=louvre")
    assert output.startswith("/louvre/?ticket=")
    settings.TICKETOFFICE_BASE_URL = "https://tickets.example.com"
    output = run("ticketoffice_issue", "--place=louvre", "--purpose=visit", "--url=louvre")
    assert output.startswith("https://tickets.example.com/louvre/?ticket=")
    token = output.strip().split("ticket=", 1)[1]
    assert read_token(token, "louvre", "visit")


def test_issue_uses_the_configured_url(settings):
    settings.TICKETOFFICE_URLS = {"louvre:visit": "louvre"}
    assert run("ticketoffice_issue", "--place=louvre", "--purpose=visit").startswith(
        "/louvre/?ticket="
    )
    # Another place/purpose has no URL: a bare token.
    assert "?" not in run("ticketoffice_issue", "--place=orsay", "--purpose=visit")


def test_issue_json_in_batches(django_capture_on_commit_callbacks):
    received = []
    ticket_issued.connect(
        lambda sender, ticket, **kw: received.append(ticket.uuid),
        weak=False,
        dispatch_uid="test-issue-json",
    )
    try:
        with (
            django_capture_on_commit_callbacks(execute=True),
            CaptureQueriesContext(connection) as queries,
        ):
            output = run(
                "ticketoffice_issue",
                "--place=louvre",
                "--purpose=visit",
                "--count=5",
                "--batch-size=2",
                "--format=json",
                "--url=louvre",
                "--no-expiry",
            )
    finally:
        ticket_issued.disconnect(dispatch_uid="test-issue-json")
    rows = json.loads(output)
    assert len(rows) == 5
    assert {row["uuid"] for row in rows} == {
        str(u) for u in Ticket.objects.values_list("uuid", flat=True)
    }
    for row in rows:
        assert set(row) == {"uuid", "place", "purpose", "expiry", "token", "url"}
        assert read_token(row["token"], "louvre", "visit").uuid == uuid.UUID(row["uuid"])
        assert row["url"] == f"/louvre/?ticket={row['token']}"
        assert row["expiry"] == ""
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 3  # batches of 2, 2 and 1
    assert sorted(received) == sorted(Ticket.objects.values_list("uuid", flat=True))


def test_issue_csv_for_mail_merge():
    output = run(
        "ticketoffice_issue",
        "--place=louvre",
        "--purpose=",
        "--count=3",
        "--format=csv",
        "--lifetime=3d",
    )
    rows = list(csv.DictReader(io.StringIO(output)))
    assert len(rows) == 3
    assert list(rows[0]) == ["uuid", "place", "purpose", "expiry", "token", "url"]
    assert all(row["place"] == "louvre" and row["purpose"] == "" for row in rows)
    assert all(read_token(row["token"], "louvre", "") for row in rows)
    assert all(row["expiry"] for row in rows)
    assert Ticket.objects.count() == 3


def test_issue_progress_bar_only_on_a_terminal():
    stderr = TTY()
    run("ticketoffice_issue", *LOUVRE, "--count=4", "--batch-size=2", stderr=stderr)
    assert "Issuing tickets [" in stderr.getvalue()
    assert "4/4 (100%)" in stderr.getvalue()
    quiet = io.StringIO()
    run("ticketoffice_issue", *LOUVRE, "--count=4", "--batch-size=2", stderr=quiet)
    assert quiet.getvalue() == ""
    # Tokens printed on the same terminal would be garbled: no bar then either.
    both = TTY()
    run("ticketoffice_issue", *LOUVRE, "--count=4", stderr=both, stdout=TTY())
    assert both.getvalue() == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data={bad json"], "--data is not valid JSON"),
        (["--lifetime=-3d"], "--lifetime: the duration must be positive"),
        (["--lifetime=0m"], "--lifetime: the duration must be positive"),
        (["--lifetime=soon"], "--lifetime: Invalid duration"),
        (["--count=0"], "--count must be a positive integer"),
        (["--count=-5"], "--count must be a positive integer"),
        (["--count=many"], "invalid int value"),
        (["--batch-size=0"], "--batch-size must be a positive integer"),
        (["--url=no-such-view"], "--url: 'no-such-view' is neither a URL name nor a path"),
        (["--place=" + "x" * 51, "--purpose=visit"], "--place is longer than 50 characters"),
        (["--place=louvre", "--purpose= visit"], "--purpose must be printable text"),
        (["--place=lou\nvre", "--purpose=visit"], "--place must be printable text"),
        (["--lifetime", "-3d"], "--lifetime: the duration must be positive, got '-3d'"),
        (["--lifetime=2h", "--no-expiry"], "not allowed with argument"),
        (["--format=xml"], "invalid choice: 'xml'"),
    ],
)
def test_issue_bad_arguments(args, message):
    if not any(arg.startswith("--place") for arg in args):
        args = [*LOUVRE, *args]
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        run("ticketoffice_issue", *args)
    assert not Ticket.objects.exists()


@pytest.mark.parametrize(
    "args", [[], ["--place=louvre"], ["--purpose=visit"], ["--count=3", "--lifetime=2h"]]
)
def test_issue_needs_place_and_purpose(args):
    with pytest.raises(CommandError, match="Give --place and --purpose"):
        run("ticketoffice_issue", *args)
    assert not Ticket.objects.exists()


def test_issue_through_the_command_line_exits_non_zero_without_place(tmp_path):
    """What an operator sees: the message, no traceback, exit status 1."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "django", "ticketoffice_issue", "--settings=tests.settings"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "CommandError: Give --place and --purpose" in result.stderr
    assert "Traceback" not in result.stderr


def test_issue_uses_the_default_lifetime(settings):
    token = run("ticketoffice_issue", *LOUVRE).strip()
    ticket = Ticket.objects.get()
    assert read_token(token, "louvre", "visit").uuid == ticket.uuid
    lifetime = ticket.expiry_datetime - ticket.creation_datetime
    assert timedelta(days=7) - timedelta(minutes=1) < lifetime <= timedelta(days=7)

    settings.TICKETOFFICE_DEFAULT_LIFETIME = 3600
    output = run("ticketoffice_issue", *LOUVRE, "--format=json")
    row = json.loads(output)[0]
    expiry = Ticket.objects.get(uuid=row["uuid"]).expiry_datetime
    assert timedelta(minutes=59) < expiry - timezone.now() <= timedelta(hours=1)
    assert row["expiry"] == expiry.isoformat()


def test_issue_never_expires_only_when_asked(settings):
    run("ticketoffice_issue", *LOUVRE, "--no-expiry")
    assert Ticket.objects.get().expiry_datetime is None
    # A project that wants no default lifetime says so in its settings.
    settings.TICKETOFFICE_DEFAULT_LIFETIME = None
    run("ticketoffice_issue", *LOUVRE)
    assert Ticket.objects.filter(expiry_datetime__isnull=True).count() == 2


# ticketoffice_revoke -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(uuid.uuid4())], "No ticket has these uuids: nothing was revoked."),
        (
            ["--place=louvre", "--purpose=guide"],
            "No ticket has place 'louvre' and purpose 'guide': nothing was revoked.",
        ),
        (
            ["--place=louvre", "--purpose=visit", "--issued-before=2001-01-01"],
            "No ticket has place 'louvre' and purpose 'visit' and was issued before that date: "
            "nothing was revoked.",
        ),
    ],
)
def test_revoke_says_when_nothing_matched(args, message):
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    assert run("ticketoffice_revoke", *args).strip() == message
    ticket.refresh_from_db()
    assert not ticket.revoked


def test_revoke_by_uuid_stamps_the_cache(redis, django_capture_on_commit_callbacks):
    ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    used, _ = Ticket.objects.issue("louvre", "visit")
    used.use()
    unknown = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        output = run("ticketoffice_revoke", str(ticket.uuid), used.uuid.hex, str(unknown))
    assert output.strip() == ("Revoked 1 ticket, skipped 1 (already used or revoked), 1 not found.")
    ticket.refresh_from_db()
    assert ticket.revoked
    assert redis.get(get_store().key(ticket.uuid)) == b"revoked"
    assert Client().get(f"/louvre/?ticket={token}").status_code == 403


def test_revoke_by_place_and_purpose(django_capture_on_commit_callbacks):
    targets = [Ticket.objects.issue("louvre", "visit")[0] for _ in range(3)]
    other_purpose, _ = Ticket.objects.issue("louvre", "guide")
    other_place, _ = Ticket.objects.issue("orsay", "visit")
    with django_capture_on_commit_callbacks(execute=True):
        output = run("ticketoffice_revoke", "--place=louvre", "--purpose=visit", "--batch-size=2")
    assert output.strip() == "Revoked 3 tickets, skipped 0 (already used or revoked)."
    assert set(Ticket.objects.revoked()) == set(targets)
    assert not Ticket.objects.filter(pk__in=[other_place.pk, other_purpose.pk]).revoked()


def test_revoke_issued_before():
    old, _ = Ticket.objects.issue("louvre", "visit")
    Ticket.objects.issue("louvre", "visit")
    Ticket.objects.filter(pk=old.pk).update(creation_datetime=ago(days=10))
    day = (timezone.now() - timedelta(days=5)).date().isoformat()
    output = run(
        "ticketoffice_revoke", "--place=louvre", "--purpose=visit", f"--issued-before={day}"
    )
    assert output.startswith("Revoked 1 ticket,")
    assert list(Ticket.objects.revoked()) == [old]
    run(
        "ticketoffice_revoke",
        "--place=louvre",
        "--purpose=visit",
        "--issued-before=2999-01-01T00:00:00+00:00",
    )
    assert Ticket.objects.revoked().count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-a-uuid", "1234"], "Malformed ticket uuid: 'not-a-uuid', '1234'"),
        ([], "Give ticket uuids, or --place and --purpose."),
        ([str(uuid.uuid4()), "--place=louvre", "--purpose=visit"], "not both"),
        (["--place=louvre"], "--place and --purpose go together"),
        (["--purpose=visit"], "--place and --purpose go together"),
        ([str(uuid.uuid4()), "--issued-before=2020-01-01"], "--issued-before needs --place"),
        (["--place=louvre", "--purpose=visit", "--issued-before=yesterday"], "not a date"),
        (["--place=louvre", "--purpose=visit", "--issued-before=2020-13-45"], "not a date"),
        (["--place=" + "x" * 60, "--purpose=visit"], "--place is longer than 50"),
        (["--place=louvre", "--purpose=visit", "--batch-size=0"], "--batch-size must be"),
    ],
)
def test_revoke_bad_arguments(args, message):
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    with pytest.raises(CommandError, match=message):
        run("ticketoffice_revoke", *args)
    ticket.refresh_from_db()
    assert not ticket.revoked


# clean_tickets ------------------------------------------------------------------


@pytest.fixture
def aged() -> dict[str, Ticket]:
    """Tickets that finished long ago, recently, or not at all."""

    def make(name: str, **fields) -> Ticket:
        ticket = Ticket.objects.create(place="louvre", purpose=name)
        Ticket.objects.filter(pk=ticket.pk).update(**fields)
        return ticket

    return {
        "expired_long_ago": make("a", expiry_datetime=ago(days=40)),
        "used_long_ago": make("b", usage_datetime=ago(days=31), expiry_datetime=None),
        "revoked_long_ago": make("c", revocation_datetime=ago(days=60)),
        "expired_recently": make("d", expiry_datetime=ago(days=2)),
        "used_recently": make("e", usage_datetime=ago(hours=3)),
        "valid": make("f", expiry_datetime=timezone.now() + timedelta(days=1)),
        "never_expires": make("g", creation_datetime=ago(days=400)),
    }


def remaining(aged: dict[str, Ticket]) -> set[str]:
    pks = set(Ticket.objects.values_list("pk", flat=True))
    return {name for name, ticket in aged.items() if ticket.pk in pks}


def test_clean_tickets_default_is_30_days(aged):
    output = run("clean_tickets")
    assert output.startswith("Deleted 3 tickets finished before ")
    assert remaining(aged) == {"expired_recently", "used_recently", "valid", "never_expires"}


def test_clean_tickets_older_than(aged):
    run("clean_tickets", "--older-than=1d")
    assert remaining(aged) == {"used_recently", "valid", "never_expires"}
    run("clean_tickets", "--older-than=1s")
    assert remaining(aged) == {"valid", "never_expires"}


def test_clean_tickets_dry_run_deletes_nothing(aged):
    output = run("clean_tickets", "--dry-run", "--older-than=1d")
    assert output.startswith("Would delete 4 tickets finished before ")
    assert "(dry run)" in output
    assert Ticket.objects.count() == len(aged)


def test_clean_tickets_works_in_bounded_batches():
    Ticket.objects.bulk_create(
        Ticket(place="louvre", expiry_datetime=ago(days=90)) for _ in range(25)
    )
    keep = Ticket.objects.create(place="louvre")
    with CaptureQueriesContext(connection) as queries:
        output = run("clean_tickets", "--batch-size=10")
    assert output.startswith("Deleted 25 tickets")
    assert list(Ticket.objects.all()) == [keep]
    sql = [q["sql"] for q in queries.captured_queries]
    deletes = [s for s in sql if s.startswith("DELETE")]
    assert len(deletes) == 3  # 10 + 10 + 5
    # Each batch reads at most --batch-size primary keys, never the whole table.
    selects = [s for s in sql if s.startswith("SELECT")]
    assert all("LIMIT 10" in s for s in selects), selects
    assert "COUNT(" not in " ".join(sql)  # not a terminal: no count for a progress bar


def test_clean_tickets_progress_bar_only_on_a_terminal(aged):
    stderr = TTY()
    run("clean_tickets", "--batch-size=2", stderr=stderr)
    assert "Deleting tickets [" in stderr.getvalue()
    assert "3/3 (100%)" in stderr.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than=-1d"], "--older-than: the duration must be positive, got '-1d'"),
        (["--older-than", "-1d"], "--older-than: the duration must be positive, got '-1d'"),
        (["--older-than=0d"], "--older-than: the duration must be positive, got '0d'"),
        (["--older-than", "0s"], "--older-than: the duration must be positive"),
        (["--older-than=forever"], "--older-than: Invalid duration"),
        (["--older-than=30"], "--older-than: Invalid duration"),
        (["--batch-size=0"], "--batch-size must be a positive integer"),
    ],
)
def test_clean_tickets_bad_arguments(aged, args, message):
    with pytest.raises(CommandError, match=message):
        run("clean_tickets", *args)
    assert Ticket.objects.count() == len(aged)
