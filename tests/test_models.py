"""The Ticket model, its queryset and its manager (issue and the 0.2 authenticate)."""

from __future__ import annotations

import hashlib
import re
import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import is_password_usable
from django.db import IntegrityError
from django.utils import timezone

from django_ticketoffice import hashers
from django_ticketoffice.exceptions import (
    CredentialsError,
    TicketExpiredError,
    TicketRevokedError,
    TicketUsedError,
)
from django_ticketoffice.models import Ticket
from django_ticketoffice.signals import ticket_issued, ticket_revoked, ticket_used
from django_ticketoffice.tokens import read_token

pytestmark = pytest.mark.django_db


@contextmanager
def catch(signal, key):
    """Collect ``key`` from every sending of ``signal`` inside the block."""
    received = []

    def receiver(**kwargs):
        received.append(kwargs[key])

    signal.connect(receiver, weak=False)
    try:
        yield received
    finally:
        signal.disconnect(receiver)


PASSWORD = "I love Paris"


def make(place="louvre", purpose="visit", password=PASSWORD, **fields):
    ticket = Ticket(place=place, purpose=purpose, **fields)
    ticket.set_password(password)
    ticket.save()
    return ticket


# Fields and defaults ------------------------------------------------------------


def test_defaults():
    ticket = Ticket()
    assert isinstance(ticket.uuid, uuid.UUID)
    assert ticket.uuid.version == 4
    assert ticket.place == ""
    assert ticket.purpose == ""
    assert ticket.data == {}
    assert not is_password_usable(ticket.password)
    assert ticket.expiry_datetime is None
    assert ticket.usage_datetime is None
    assert ticket.revocation_datetime is None
    assert ticket.check_password("") is False
    assert ticket.check_password(None) is False
    ticket.save()
    ticket.refresh_from_db()
    assert ticket.creation_datetime is not None
    assert ticket.data == {}
    assert ticket.status == "valid"


def test_uuids_are_unique():
    first = Ticket.objects.create()
    second = Ticket.objects.create()
    assert first.uuid != second.uuid
    with pytest.raises(IntegrityError):
        Ticket.objects.create(uuid=first.uuid)


def test_field_definitions():
    fields = {field.name: field for field in Ticket._meta.get_fields()}
    assert fields["uuid"].unique and not fields["uuid"].editable
    assert fields["place"].max_length == 50 and fields["place"].blank
    assert fields["purpose"].max_length == 50 and fields["purpose"].db_index
    assert fields["password"].max_length == 255
    for name in ("expiry_datetime", "usage_datetime", "revocation_datetime"):
        assert fields[name].null
    assert ("revoke_ticket", "Can revoke ticket") in [
        (code, str(label)) for code, label in Ticket._meta.permissions
    ]


def test_data_round_trip():
    ticket = make(data={"first_name": "Léonard", "user": 42, "tags": ["a"]})
    ticket.refresh_from_db()
    assert ticket.data == {"first_name": "Léonard", "user": 42, "tags": ["a"]}


def test_str_never_reveals_secret_or_hash():
    ticket, token = Ticket.objects.issue("louvre", "visit")
    secret = read_token(token, "louvre", "visit").secret
    text = str(ticket)
    assert str(ticket.uuid) in text
    assert "louvre" in text
    assert secret not in text
    assert ticket.password not in text
    assert ticket.password.split("$")[-1] not in text
    chosen = make(password="I love Paris")
    assert "Paris" not in str(chosen)
    assert chosen.password not in str(chosen)
    assert repr(chosen).count("Paris") == 0
    assert str(Ticket(place="", purpose="")).startswith("ticket ")


# Secrets -----------------------------------------------------------------------


def test_set_password_uses_django_hashers_and_does_not_save():
    ticket = make(password="first")
    ticket.set_password("I love Paris")
    assert ticket.password.startswith("md5$")  # tests.settings.PASSWORD_HASHERS
    assert ticket.check_password("I love Paris")
    assert ticket.authenticate("I love Paris")
    assert not ticket.check_password("I love paris")
    assert not ticket.check_password("")
    assert not ticket.check_password(None)
    assert Ticket.objects.get(pk=ticket.pk).check_password("first")


def test_set_password_empty_and_none():
    ticket = Ticket()
    ticket.set_password("")
    # As in 0.2 on Django >= 1.6: an empty password is a usable hash.
    assert ticket.check_password("")
    assert not ticket.check_password(None)
    ticket.set_password(None)
    assert not is_password_usable(ticket.password)
    assert not ticket.check_password("")
    assert not ticket.check_password(None)


def test_check_password_survives_unencodable_text():
    # Lone surrogates cannot be UTF-8 encoded; they must simply not match.
    chosen = make(password="I love Paris")
    generated = Ticket()
    generated.generate_password()
    assert chosen.check_password("\ud800") is False
    assert generated.check_password("\ud800") is False


def test_generate_password_default():
    ticket = Ticket()
    secret = ticket.generate_password()
    assert isinstance(secret, str)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", secret)  # 16 bytes = 128 bits, URL-safe
    assert ticket.password == "ticketoffice_sha256$" + hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in ticket.password
    assert ticket.check_password(secret)
    assert ticket.authenticate(secret)
    assert not ticket.check_password(secret[:-1])
    assert not ticket.check_password(secret.upper() if secret.upper() != secret else "x")
    assert ticket.pk is None  # does not save
    secrets_seen = {Ticket().generate_password() for _ in range(50)}
    assert len(secrets_seen) == 50


def test_generated_secret_has_at_least_128_bits():
    secret = Ticket().generate_password()
    # token_urlsafe(16): 22 characters of 6 bits each = 132 bits encoded, 128 random.
    assert len(secret) * 6 >= 128


def test_password_generator_setting_takes_effect(settings):
    settings.TICKETOFFICE_PASSWORD_GENERATOR = (
        "django_ticketoffice.utils.random_password",
        [],
        {"min_length": 30, "max_length": 30},
    )
    ticket = Ticket()
    secret = ticket.generate_password()
    assert len(secret) == 30
    assert re.fullmatch(r"[a-km-zA-HJ-NP-Z2-9]{30}", secret)
    assert ticket.check_password(secret)
    settings.TICKETOFFICE_PASSWORD_GENERATOR = ("secrets.token_hex", [20], {})
    ticket, token = Ticket.objects.issue("louvre", "visit")
    secret = read_token(token, "louvre", "visit").secret
    assert re.fullmatch(r"[0-9a-f]{40}", secret)
    assert ticket.check_password(secret)


def make_number():
    return 123456789012345678901234567890


def test_password_generator_may_return_a_non_string(settings):
    settings.TICKETOFFICE_PASSWORD_GENERATOR = ("tests.test_models.make_number", [], {})
    ticket = Ticket(place="louvre", purpose="visit")
    clear = ticket.generate_password()
    assert clear == "123456789012345678901234567890"
    assert ticket.check_password(clear)


def test_password_generator_0_2_tuple_of_lists(settings):
    settings.TICKETOFFICE_PASSWORD_GENERATOR = ["secrets.token_urlsafe", (32,), {}]
    secret = Ticket().generate_password()
    assert len(secret) == 43


def test_hashers_module():
    assert hashers.check_secret(None, hashers.hash_secret("x")) is False
    assert hashers.check_secret("x", "") is False
    assert hashers.check_secret("x", hashers.hash_secret("x")) is True
    assert hashers.check_secret("y", hashers.hash_secret("x")) is False


# State ---------------------------------------------------------------------------


def test_used_expired_revoked_properties():
    now = timezone.now()
    ticket = Ticket()
    assert not ticket.used and not ticket.expired and not ticket.revoked
    assert ticket.is_valid()
    ticket.usage_datetime = now
    assert ticket.used is True and not ticket.is_valid() and ticket.status == "used"
    ticket = Ticket(expiry_datetime=now - timedelta(seconds=1))
    assert ticket.expired is True and not ticket.is_valid() and ticket.status == "expired"
    ticket = Ticket(expiry_datetime=now + timedelta(hours=1))
    assert ticket.expired is False and ticket.is_valid()
    ticket = Ticket(revocation_datetime=now)
    assert ticket.revoked is True and not ticket.is_valid() and ticket.status == "revoked"
    # A use wins over a revocation recorded while it was in flight; revocation
    # wins over expiry.
    ticket = Ticket(
        revocation_datetime=now, usage_datetime=now, expiry_datetime=now - timedelta(days=1)
    )
    assert ticket.status == "used"
    ticket.usage_datetime = None
    assert ticket.status == "revoked"


def test_expiry_is_strict(monkeypatch):
    frozen = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: frozen)
    ticket = Ticket(expiry_datetime=frozen)
    assert ticket.expired is False  # expiry == now is not expired yet
    assert ticket.is_valid()
    ticket.expiry_datetime = frozen - timedelta(microseconds=1)
    assert ticket.expired is True


def test_is_appropriate():
    ticket = Ticket(place="library", purpose="read")
    assert ticket.is_appropriate("library", "read")
    assert not ticket.is_appropriate("library", "shout")
    assert not ticket.is_appropriate("museum", "read")
    assert Ticket().is_appropriate("", "")


# use() and revoke() --------------------------------------------------------------


def test_use_stamps_once(django_assert_num_queries, django_capture_on_commit_callbacks):
    ticket = make()
    with catch(ticket_used, "ticket") as received:
        with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(1):
            ticket.use()
        assert ticket.used
        assert [t.uuid for t in received] == [ticket.uuid]
        stored = Ticket.objects.get(pk=ticket.pk)
        assert stored.usage_datetime == ticket.usage_datetime
        with pytest.raises(TicketUsedError) as raised:
            ticket.use()
        assert raised.value.genuine
        # A stale copy that still believes the ticket is valid loses too.
        stale = Ticket.objects.get(pk=ticket.pk)
        stale.usage_datetime = None
        with pytest.raises(TicketUsedError):
            stale.use()
        assert stale.usage_datetime == stored.usage_datetime
    assert len(received) == 1
    assert Ticket.objects.get(pk=ticket.pk).usage_datetime == stored.usage_datetime


def test_use_refuses_revoked_and_expired():
    revoked = make()
    assert revoked.revoke() is True
    with pytest.raises(TicketRevokedError):
        revoked.use()
    assert Ticket.objects.get(pk=revoked.pk).usage_datetime is None
    expired = make(expiry_datetime=timezone.now() - timedelta(seconds=1))
    with pytest.raises(TicketExpiredError):
        expired.use()
    assert Ticket.objects.get(pk=expired.pk).usage_datetime is None


def test_use_of_a_stale_revoked_instance():
    ticket = make()
    stale = Ticket.objects.get(pk=ticket.pk)
    ticket.revoke()
    with pytest.raises(TicketRevokedError):
        stale.use()
    assert stale.revocation_datetime is not None
    assert Ticket.objects.get(pk=ticket.pk).usage_datetime is None


def test_use_of_a_deleted_ticket():
    ticket = make()
    Ticket.objects.filter(pk=ticket.pk).delete()
    with pytest.raises(CredentialsError):
        ticket.use()


def test_use_keeps_columns_changed_concurrently():
    ticket = make(data={"first_name": "Léonard"})
    Ticket.objects.filter(pk=ticket.pk).update(
        data={"first_name": "Mona"}, place="orsay", purpose="see"
    )
    ticket.use()  # on a stale instance
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.data == {"first_name": "Mona"}
    assert (stored.place, stored.purpose) == ("orsay", "see")
    assert stored.used
    assert stored.password == ticket.password


def test_revoke_keeps_columns_changed_concurrently(django_capture_on_commit_callbacks):
    ticket = make(data={"a": 1})
    Ticket.objects.filter(pk=ticket.pk).update(data={"a": 2})
    with (
        catch(ticket_revoked, "tickets") as revoked,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert ticket.revoke() is True
    assert revoked == [[ticket.uuid]]
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.data == {"a": 2}
    assert stored.revoked and ticket.revoked
    assert ticket.revoke() is False


def test_revoke_returns_false_for_used_ticket():
    ticket = make()
    ticket.use()
    assert ticket.revoke() is False
    stored = Ticket.objects.get(pk=ticket.pk)
    # Recorded all the same (a use in flight that fails must not revive the
    # ticket), while the status stays "used".
    assert stored.revocation_datetime is not None
    assert stored.status == "used"


def test_revoke_of_expired_ticket():
    ticket = make(expiry_datetime=timezone.now() - timedelta(days=1))
    assert ticket.revoke() is True
    assert Ticket.objects.get(pk=ticket.pk).revoked


# Querysets -------------------------------------------------------------------------


@pytest.fixture
def population():
    now = timezone.now()
    tickets = {
        "valid": make(),
        "valid_future": make(expiry_datetime=now + timedelta(days=1)),
        "used": make(usage_datetime=now),
        "expired": make(expiry_datetime=now - timedelta(days=1)),
        "revoked": make(revocation_datetime=now),
        "used_expired": make(usage_datetime=now, expiry_datetime=now - timedelta(days=1)),
    }
    return tickets


def names(population, queryset):
    by_pk = {ticket.pk: name for name, ticket in population.items()}
    return {by_pk[pk] for pk in queryset.values_list("pk", flat=True)}


def test_querysets(population):
    assert names(population, Ticket.objects.valid()) == {"valid", "valid_future"}
    assert names(population, Ticket.objects.used()) == {"used", "used_expired"}
    assert names(population, Ticket.objects.expired()) == {"expired", "used_expired"}
    assert names(population, Ticket.objects.revoked()) == {"revoked"}
    assert names(population, Ticket.objects.filter(place="louvre").valid()) == {
        "valid",
        "valid_future",
    }
    assert names(population, Ticket.objects.all().used().expired()) == {"used_expired"}


def test_with_status_matches_property(population, django_assert_num_queries):
    with django_assert_num_queries(1):
        statuses = {t.pk: t.status for t in Ticket.objects.with_status()}
    by_pk = {ticket.pk: name for name, ticket in population.items()}
    assert {by_pk[pk]: status for pk, status in statuses.items()} == {
        "valid": "valid",
        "valid_future": "valid",
        "used": "used",
        "expired": "expired",
        "revoked": "revoked",
        "used_expired": "used",
    }
    for ticket in Ticket.objects.all():
        assert statuses[ticket.pk] == ticket.status
    assert names(population, Ticket.objects.with_status().filter(status="valid")) == {
        "valid",
        "valid_future",
    }


@pytest.mark.parametrize("status", ["valid", "used", "expired", "revoked"])
def test_in_status_agrees_with_the_annotation(population, status):
    annotated = names(population, Ticket.objects.with_status().filter(status=status))
    assert annotated
    assert names(population, Ticket.objects.in_status(status)) == annotated


def test_manager_offers_the_queryset_filters_but_not_bulk_revoke():
    for name in ("valid", "used", "expired", "revoked", "with_status", "in_status"):
        assert callable(getattr(Ticket.objects, name)), name
    assert not hasattr(Ticket.objects, "revoke")


def test_in_status_rejects_unknown_status():
    with pytest.raises(ValueError, match="Unknown ticket status"):
        Ticket.objects.all().in_status("lost")


def test_queryset_revoke(population, django_capture_on_commit_callbacks):
    with (
        catch(ticket_revoked, "tickets") as batches,
        django_capture_on_commit_callbacks(execute=True),
    ):
        count = Ticket.objects.all().revoke(batch_size=2)
    revoked = [u for batch in batches for u in batch]
    # Used and already revoked tickets are left alone; expired ones are revoked.
    assert count == 3
    assert sorted(map(str, revoked)) == sorted(
        str(population[name].uuid) for name in ("valid", "valid_future", "expired")
    )
    assert names(population, Ticket.objects.revoked()) == {
        "valid",
        "valid_future",
        "expired",
        "revoked",
    }
    used = Ticket.objects.get(pk=population["used"].pk)
    assert used.revocation_datetime is not None and used.status == "used"
    assert Ticket.objects.all().revoke() == 0


def test_queryset_revoke_filtered(population):
    assert Ticket.objects.filter(pk=population["valid"].pk).revoke() == 1
    assert names(population, Ticket.objects.valid()) == {"valid_future"}


def test_bulk_revoke_reads_the_queryset_once_then_works_by_primary_key():
    """A large revocation stays linear: no batch asks the queryset's filter again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    now = timezone.now()
    Ticket.objects.bulk_create(
        Ticket(place="campaign", purpose="visit", expiry_datetime=now + timedelta(days=1))
        for _ in range(25)
    )
    in_flight = Ticket.objects.filter(place="campaign").order_by("pk")[3]
    Ticket.objects.filter(pk=in_flight.pk).update(usage_datetime=now, uses=1)
    Ticket.objects.create(place="elsewhere", purpose="visit")
    with CaptureQueriesContext(connection) as queries:
        assert Ticket.objects.filter(place="campaign").revoke(batch_size=10) == 24
    place = connection.ops.quote_name("place")
    asking = [q["sql"] for q in queries if place in q["sql"]]
    assert len(asking) == 1, asking  # the one read of the queryset
    # Then each batch: one SELECT (FOR UPDATE where the database locks) and one
    # UPDATE, both by primary key.
    batches = [q["sql"].split()[0] for q in queries if place not in q["sql"]]
    assert [verb for verb in batches if verb in ("SELECT", "UPDATE")] == ["SELECT", "UPDATE"] * 3
    campaign = Ticket.objects.filter(place="campaign")
    assert campaign.filter(revocation_datetime__isnull=True).count() == 0
    # The use in flight got its revocation recorded too, and still shows as used.
    assert Ticket.objects.get(pk=in_flight.pk).status == "used"
    assert Ticket.objects.filter(place="elsewhere", revocation_datetime__isnull=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_bulk_revoke_in_autocommit_commits_each_batch():
    """Outside any transaction (a management command): the stream of primary keys
    outlives each batch's commit (a holdable cursor on PostgreSQL), and every
    batch is stamped as it commits."""
    from django.db import connection

    assert connection.get_autocommit() and not connection.in_atomic_block
    tickets = [Ticket.objects.issue("campaign", "visit")[0] for _ in range(7)]
    with catch(ticket_revoked, "tickets") as batches:
        assert Ticket.objects.filter(place="campaign").revoke(batch_size=3) == 7
    assert [len(batch) for batch in batches] == [3, 3, 1]  # one signal per committed batch
    assert sorted(u for batch in batches for u in batch) == sorted(t.uuid for t in tickets)
    assert Ticket.objects.filter(place="campaign", revocation_datetime__isnull=True).count() == 0


# issue() ------------------------------------------------------------------------------


def test_issue(django_capture_on_commit_callbacks):
    with catch(ticket_issued, "ticket") as issued, django_capture_on_commit_callbacks(execute=True):
        ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    assert issued == [ticket]
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.place, stored.purpose) == ("louvre", "visit")
    assert stored.data == {"first_name": "Léonard"}
    assert stored.expiry_datetime is None
    assert stored.password.startswith("ticketoffice_sha256$")
    credentials = read_token(token, "louvre", "visit")
    assert credentials.uuid == stored.uuid
    assert stored.check_password(credentials.secret)
    assert credentials.secret not in stored.password
    assert len(token) <= 100


def test_issue_defaults():
    ticket, token = Ticket.objects.issue()
    assert (ticket.place, ticket.purpose, ticket.data) == ("", "", {})
    assert read_token(token).uuid == ticket.uuid


def test_issue_with_lifetime_and_expiry():
    before = timezone.now()
    ticket, token = Ticket.objects.issue("louvre", "visit", lifetime=timedelta(hours=2))
    assert before + timedelta(hours=2) <= ticket.expiry_datetime
    assert ticket.expiry_datetime <= timezone.now() + timedelta(hours=2)
    assert read_token(token, "louvre", "visit").expiry is not None
    expiry = timezone.now() + timedelta(days=3)
    ticket, _ = Ticket.objects.issue("louvre", "visit", expiry_datetime=expiry)
    assert Ticket.objects.get(pk=ticket.pk).expiry_datetime == expiry


def test_issue_errors():
    with pytest.raises(ValueError, match="not both"):
        Ticket.objects.issue(
            lifetime=timedelta(hours=1), expiry_datetime=timezone.now() + timedelta(hours=1)
        )
    with pytest.raises(ValueError, match="positive"):
        Ticket.objects.issue(lifetime=timedelta(hours=-1))
    with pytest.raises(ValueError, match="positive"):
        Ticket.objects.issue(lifetime=timedelta(0))
    assert Ticket.objects.count() == 0


def test_issue_with_unencodable_expiry_saves_nothing():
    far = timezone.now().replace(year=2200)
    with pytest.raises(ValueError, match="expiry"):
        Ticket.objects.issue("louvre", "visit", expiry_datetime=far)
    assert Ticket.objects.count() == 0


# Ticket.objects.authenticate: the 0.2 API ---------------------------------------------


def test_authenticate(django_assert_num_queries):
    ticket = make()
    with django_assert_num_queries(1):
        found = Ticket.objects.authenticate(ticket.uuid, "I love Paris", "louvre", "visit")
    assert found.pk == ticket.pk
    assert Ticket.objects.authenticate(str(ticket.uuid), "I love Paris", "louvre", "visit")
    assert Ticket.objects.authenticate(ticket.uuid.hex, "I love Paris", "louvre", "visit")
    assert Ticket.objects.authenticate(str(ticket.uuid).upper(), "I love Paris", "louvre", "visit")
    assert Ticket.objects.authenticate(ticket.uuid.hex.upper(), "I love Paris", "louvre", "visit")
    # 0.2's queryset form.
    assert Ticket.objects.filter(place="louvre").model is Ticket


def test_authenticate_default_place_and_purpose():
    ticket = make(place="", purpose="")
    assert Ticket.objects.authenticate(ticket.uuid, "I love Paris").pk == ticket.pk
    other = make()
    with pytest.raises(CredentialsError):
        Ticket.objects.authenticate(other.uuid, "I love Paris")


@pytest.mark.parametrize("bad_uuid", ["foo", "", " ", "1234", "g" * 32, 42, None, ["x"]])
def test_authenticate_bad_uuid(bad_uuid, django_assert_num_queries):
    make()
    with django_assert_num_queries(0), pytest.raises(CredentialsError):
        Ticket.objects.authenticate(bad_uuid, "I love Paris", "louvre", "visit")


def test_authenticate_unknown_uuid(django_assert_num_queries):
    make()
    with django_assert_num_queries(1), pytest.raises(CredentialsError):
        Ticket.objects.authenticate(uuid.uuid4(), "I love Paris", "louvre", "visit")


def test_authenticate_wrong_password_place_purpose():
    ticket = make()
    for args in [
        (ticket.uuid, "I love Rome", "louvre", "visit"),
        (ticket.uuid, "", "louvre", "visit"),
        (ticket.uuid, None, "louvre", "visit"),
        (ticket.uuid, "I love Paris", "orsay", "visit"),
        (ticket.uuid, "I love Paris", "louvre", "work"),
        (ticket.uuid, "I love Paris", "", ""),
    ]:
        with pytest.raises(CredentialsError):
            Ticket.objects.authenticate(*args)


def test_authenticate_expired_used_revoked():
    expired = make(expiry_datetime=timezone.now() - timedelta(minutes=1))
    with pytest.raises(TicketExpiredError) as raised:
        Ticket.objects.authenticate(expired.uuid, "I love Paris", "louvre", "visit")
    assert raised.value.genuine
    used = make()
    used.use()
    with pytest.raises(TicketUsedError):
        Ticket.objects.authenticate(used.uuid, "I love Paris", "louvre", "visit")
    revoked = make()
    revoked.revoke()
    with pytest.raises(TicketRevokedError):
        Ticket.objects.authenticate(revoked.uuid, "I love Paris", "louvre", "visit")
    # "used" wins over "expired", as in 0.2.
    both = make(expiry_datetime=timezone.now() - timedelta(minutes=1))
    Ticket.objects.filter(pk=both.pk).update(usage_datetime=timezone.now())
    with pytest.raises(TicketUsedError):
        Ticket.objects.authenticate(both.uuid, "I love Paris", "louvre", "visit")


@pytest.mark.parametrize("state", ["used", "revoked", "expired"])
def test_authenticate_hides_state_from_wrong_password(
    state, stamp_cache, django_capture_on_commit_callbacks
):
    """0.2 reveals used/expired only to the holder of the password, warm cache or not."""
    ticket = make()
    with django_capture_on_commit_callbacks(execute=True):
        if state == "used":
            ticket.use()
        elif state == "revoked":
            ticket.revoke()
        else:
            Ticket.objects.filter(pk=ticket.pk).update(
                expiry_datetime=timezone.now() - timedelta(minutes=1)
            )
    for _ in range(2):  # the second round meets a warm stamp cache
        with pytest.raises(CredentialsError):
            Ticket.objects.authenticate(ticket.uuid, "wrong", "louvre", "visit")
        with pytest.raises((TicketUsedError, TicketRevokedError, TicketExpiredError)) as raised:
            Ticket.objects.authenticate(ticket.uuid, "I love Paris", "louvre", "visit")
        assert raised.value.reason == state
        assert raised.value.genuine
