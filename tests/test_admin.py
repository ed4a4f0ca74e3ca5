"""The ticket office in the Django admin, through the test client."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket
from django_ticketoffice.tokens import read_token

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:django_ticketoffice_ticket_changelist")
ADD = reverse("admin:django_ticketoffice_ticket_add")
TOKEN_RE = re.compile(r'id="ticketoffice-token"[^>]*>([^<]+)<')
URL_RE = re.compile(r'<a id="ticketoffice-url" href="([^"]+)"')


def change_url(ticket: Ticket) -> str:
    return reverse("admin:django_ticketoffice_ticket_change", args=(ticket.pk,))


def staff_client(*codenames: str) -> Client:
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="django_ticketoffice").filter(
            codename__in=codenames
        )
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def clerk_client() -> Client:
    """Staff who may view and add tickets, but not change or revoke them."""
    return staff_client("view_ticket", "add_ticket")


def ago(**kwargs: int):
    return timezone.now() - timedelta(**kwargs)


@pytest.fixture
def tickets() -> dict[str, Ticket]:
    """One ticket in each state, at two places."""
    valid, _ = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    used, _ = Ticket.objects.issue("louvre", "visit")
    expired, _ = Ticket.objects.issue("orsay", "visit")
    revoked, _ = Ticket.objects.issue("orsay", "guide")
    Ticket.objects.filter(pk=used.pk).update(usage_datetime=ago(hours=1))
    Ticket.objects.filter(pk=expired.pk).update(expiry_datetime=ago(hours=1))
    Ticket.objects.filter(pk=revoked.pk).update(revocation_datetime=ago(hours=1))
    return {"valid": valid, "used": used, "expired": expired, "revoked": revoked}


def listed(response) -> set[str]:
    """The uuids shown as rows of a changelist."""
    assert response.status_code == 200, response.content[:500]
    return {str(ticket.uuid) for ticket in response.context["cl"].result_list}


# Changelist ------------------------------------------------------------------


def test_changelist_shows_every_column_and_status(admin_client, tickets):
    response = admin_client.get(CHANGELIST)
    assert listed(response) == {str(t.uuid) for t in tickets.values()}
    html = response.content.decode()
    for column in ("uuid", "place", "purpose", "status", "created", "expires", "used", "revoked"):
        assert f"column-{column}" in html or column.title() in html
    statuses = {t.uuid: t.status for t in response.context["cl"].result_list}
    assert statuses == {t.uuid: state for state, t in tickets.items()}
    # The hash is never on the page.
    assert tickets["valid"].password.split("$")[-1] not in html


def test_changelist_sorts_by_status(admin_client, tickets):
    index = list(admin_client.get(CHANGELIST).context["cl"].list_display).index("status_display")
    response = admin_client.get(CHANGELIST, {"o": str(index)})
    assert response.status_code == 200
    statuses = [t.status for t in response.context["cl"].result_list]
    assert statuses == sorted(statuses)


@pytest.mark.parametrize("state", ["valid", "used", "expired", "revoked"])
def test_status_filter(admin_client, tickets, state):
    assert listed(admin_client.get(CHANGELIST, {"status": state})) == {str(tickets[state].uuid)}


def test_unknown_status_filter_value_lists_everything(admin_client, tickets):
    response = admin_client.get(CHANGELIST, {"status": "nonsense"})
    assert response.status_code in (200, 302)


def test_place_and_purpose_filters(admin_client, tickets):
    assert listed(admin_client.get(CHANGELIST, {"place": "orsay"})) == {
        str(tickets["expired"].uuid),
        str(tickets["revoked"].uuid),
    }
    assert listed(admin_client.get(CHANGELIST, {"purpose": "guide"})) == {
        str(tickets["revoked"].uuid)
    }
    both = admin_client.get(CHANGELIST, {"place": "louvre", "status": "used"})
    assert listed(both) == {str(tickets["used"].uuid)}


def test_search_by_place_purpose_and_uuid(admin_client, tickets):
    assert listed(admin_client.get(CHANGELIST, {"q": "ors"})) == {
        str(tickets["expired"].uuid),
        str(tickets["revoked"].uuid),
    }
    assert listed(admin_client.get(CHANGELIST, {"q": "guide"})) == {str(tickets["revoked"].uuid)}
    target = tickets["used"].uuid
    assert listed(admin_client.get(CHANGELIST, {"q": str(target)})) == {str(target)}
    assert listed(admin_client.get(CHANGELIST, {"q": target.hex.upper()})) == {str(target)}
    assert listed(admin_client.get(CHANGELIST, {"q": "no-such-place"})) == set()


def test_date_hierarchy_filters_on_creation(admin_client, tickets):
    Ticket.objects.filter(pk=tickets["valid"].pk).update(
        creation_datetime=timezone.now().replace(year=2001)
    )
    assert listed(admin_client.get(CHANGELIST, {"creation_datetime__year": 2001})) == {
        str(tickets["valid"].uuid)
    }


def count_changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    return len(queries)


def test_changelist_query_count_does_not_grow_with_rows(admin_client):
    def create(count: int) -> None:
        Ticket.objects.bulk_create(
            Ticket(place=f"place{n % 3}", purpose="visit", expiry_datetime=ago(days=n % 2))
            for n in range(count)
        )

    create(20)
    admin_client.get(CHANGELIST)  # warm up the session and content types
    with_20 = count_changelist_queries(admin_client)
    create(180)
    with_200 = count_changelist_queries(admin_client)
    assert with_200 == with_20
    # Session user, permissions, page, pagination, two filters, date hierarchy.
    assert with_20 <= 8


def test_limited_staff_sees_the_list_but_no_revoke_action(clerk_client, tickets):
    response = clerk_client.get(CHANGELIST)
    assert len(listed(response)) == 4
    assert b'value="revoke"' not in response.content
    # No action is left for this user, so the action bar is gone altogether.
    assert response.context["action_form"] is None


def test_superuser_sees_the_revoke_action(admin_client, tickets):
    response = admin_client.get(CHANGELIST)
    choices = dict(response.context["action_form"].fields["action"].choices)
    assert choices["revoke"] == "Revoke selected tickets"


def test_staff_without_model_permissions_is_refused(tickets):
    client = staff_client()
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(change_url(tickets["valid"])).status_code == 403


def test_non_staff_is_sent_to_login(tickets):
    user = User.objects.create_user("visitor", password="pw")
    client = Client()
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


# Revoking ----------------------------------------------------------------------


def test_revoke_action_refuses_the_ticket_without_sql(
    admin_client,
    redis,
    django_capture_on_commit_callbacks,
    django_assert_num_queries,
):
    ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    used, _ = Ticket.objects.issue("louvre", "visit")
    Ticket.objects.filter(pk=used.pk).update(usage_datetime=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST,
            {"action": "revoke", "_selected_action": [ticket.pk, used.pk]},
            follow=True,
        )
    assert response.status_code == 200
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert texts == ["1 ticket was revoked. 1 was skipped: already used or revoked."]
    ticket.refresh_from_db()
    assert ticket.revoked
    used.refresh_from_db()
    # Recorded (a use in flight that fails must not revive it), but it stays "used".
    assert used.revocation_datetime is not None
    assert used.status == "used"
    assert redis.get(f"ticketoffice:{{{ticket.uuid}}}") == b"revoked"

    visitor = Client()
    with django_assert_num_queries(0):
        response = visitor.get(ticket_url("louvre", token))
    assert response.status_code == 403
    assert b"revoked" in response.content


def test_revoke_action_on_used_and_revoked_tickets_changes_no_status(
    admin_client, tickets, django_capture_on_commit_callbacks
):
    before = {t.pk: (t.usage_datetime, t.revocation_datetime) for t in Ticket.objects.all()}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(
            CHANGELIST,
            {"action": "revoke", "_selected_action": [tickets["used"].pk, tickets["revoked"].pk]},
            follow=True,
        )
    assert callbacks == []
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert texts == ["0 tickets were revoked. 2 were skipped: already used or revoked."]
    after = {t.pk: (t.usage_datetime, t.revocation_datetime) for t in Ticket.objects.all()}
    # The used ticket keeps its use and gets the revocation recorded (it wins over
    # a use in flight that fails); the revoked one is untouched; no status changes.
    used, revoked = tickets["used"].pk, tickets["revoked"].pk
    assert after[revoked] == before[revoked]
    assert after[used][0] == before[used][0] and after[used][1] is not None
    assert {t.pk: t.status for t in Ticket.objects.filter(pk__in=[used, revoked])} == {
        used: "used",
        revoked: "revoked",
    }


def test_limited_staff_cannot_run_the_revoke_action(clerk_client, tickets):
    response = clerk_client.post(
        CHANGELIST, {"action": "revoke", "_selected_action": [tickets["valid"].pk]}
    )
    assert response.status_code in (200, 302)
    tickets["valid"].refresh_from_db()
    assert tickets["valid"].revocation_datetime is None


def test_revoke_button_revokes_and_stamps(admin_client, redis, django_capture_on_commit_callbacks):
    ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    page = admin_client.get(change_url(ticket))
    assert b'<input type="submit" name="_revoke" id="ticketoffice-revoke" value="Revoke"' in (
        page.content
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(change_url(ticket), {"_revoke": "Revoke"})
    assert response.status_code == 302
    assert response["Location"] == change_url(ticket)
    ticket.refresh_from_db()
    assert ticket.revoked
    assert redis.get(f"ticketoffice:{{{ticket.uuid}}}") == b"revoked"
    page = admin_client.get(change_url(ticket))
    assert [str(m) for m in page.context["messages"]] == ["The ticket was revoked."]
    assert b"ticketoffice-revoke" not in page.content
    assert Client().get(ticket_url("louvre", token)).status_code == 403


def test_revoke_button_on_a_used_ticket_says_nothing_changed(admin_client, tickets):
    used = tickets["used"]
    assert b"ticketoffice-revoke" not in admin_client.get(change_url(used)).content
    response = admin_client.post(change_url(used), {"_revoke": "Revoke"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "The ticket was already used or revoked: nothing changed."
    ]
    used.refresh_from_db()
    assert used.status == "used"


def test_revoke_button_needs_the_revoke_permission(clerk_client, tickets):
    valid = tickets["valid"]
    page = clerk_client.get(change_url(valid))
    assert page.status_code == 200
    assert b"ticketoffice-revoke" not in page.content
    assert clerk_client.post(change_url(valid), {"_revoke": "Revoke"}).status_code == 403
    valid.refresh_from_db()
    assert valid.revocation_datetime is None


def test_revoke_permission_alone_is_enough_to_revoke(tickets, django_capture_on_commit_callbacks):
    client = staff_client("view_ticket", "revoke_ticket")
    valid = tickets["valid"]
    assert b'id="ticketoffice-revoke"' in client.get(change_url(valid)).content
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(change_url(valid), {"_revoke": "Revoke"}).status_code == 302
    valid.refresh_from_db()
    assert valid.revoked
    changelist = client.get(CHANGELIST)
    assert "revoke" in dict(changelist.context["action_form"].fields["action"].choices)


def test_revoke_button_for_a_missing_ticket_is_404(admin_client):
    response = admin_client.post(
        reverse("admin:django_ticketoffice_ticket_change", args=(999999,)), {"_revoke": "Revoke"}
    )
    assert response.status_code == 404


# Change page ----------------------------------------------------------------


def test_change_page_never_shows_the_hash(admin_client, tickets):
    ticket = tickets["valid"]
    html = admin_client.get(change_url(ticket)).content.decode()
    assert ticket.password not in html
    assert ticket.password.split("$")[-1] not in html
    assert "set: generated secret, SHA-256 hash" in html
    assert 'id="ticketoffice-token"' not in html
    chosen = Ticket.objects.create(place="louvre", purpose="visit")
    assert "unusable" in admin_client.get(change_url(chosen)).content.decode()
    chosen.set_password("s3cret")
    chosen.save()
    html = admin_client.get(change_url(chosen)).content.decode()
    assert "set: chosen password, md5 hash" in html
    assert chosen.password.split("$")[-1] not in html


def test_change_form_edits_data_only(admin_client, tickets):
    ticket = tickets["valid"]
    response = admin_client.post(
        change_url(ticket),
        {"data": '{"first_name": "Mona"}', "place": "elsewhere", "purpose": "x", "_save": "Save"},
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.data == {"first_name": "Mona"}
    assert (ticket.place, ticket.purpose) == ("louvre", "visit")


# Issuing -------------------------------------------------------------------------


def test_add_form_has_the_issuing_fields(admin_client):
    response = admin_client.get(ADD)
    assert response.status_code == 200
    fields = set(response.context["adminform"].form.fields)
    assert fields == {
        "place",
        "purpose",
        "data",
        "expiry_datetime",
        "lifetime",
        "max_uses",
        "unlimited_uses",
        "max_attempts",
    }
    assert b"_addanother" not in response.content


def test_add_shows_the_credential_once(admin_client, settings):
    settings.TICKETOFFICE_URLS = {"louvre:visit": "louvre"}
    response = admin_client.post(
        ADD,
        {
            "place": "louvre",
            "purpose": "visit",
            "data": '{"first_name": "Léonard"}',
            "lifetime": "2h",
        },
    )
    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == change_url(ticket)

    page = admin_client.get(response["Location"])
    html = page.content.decode()
    token = TOKEN_RE.search(html).group(1)
    assert read_token(token, "louvre", "visit").uuid == ticket.uuid
    url = URL_RE.search(html).group(1).replace("&amp;", "&")
    assert url == "http://testserver" + ticket_url("louvre", token)
    assert "no-store" in page["Cache-Control"]
    # same-origin, not no-referrer: this page posts forms, and CSRF needs Origin.
    assert page["Referrer-Policy"] == "same-origin"
    assert "Copy its credential now" in html

    # The database keeps only a hash; the ticket has the form's values.
    assert ticket.password.startswith("ticketoffice_sha256$")
    assert ticket.data == {"first_name": "Léonard"}
    lifetime = ticket.expiry_datetime - ticket.creation_datetime
    assert timedelta(hours=2) - timedelta(minutes=1) < lifetime <= timedelta(hours=2, minutes=1)
    for value in Ticket.objects.values_list(flat=False).get():
        assert token not in str(value)

    # Reloading never shows it again.
    again = admin_client.get(change_url(ticket)).content.decode()
    assert 'id="ticketoffice-token"' not in again
    assert token not in again

    # And the link works, once.
    visitor = Client()
    response = visitor.get(url)
    assert response.status_code == 302
    assert visitor.get(response["Location"]).content.decode().endswith("Léonard")


def test_add_without_configured_url_shows_only_the_token(clerk_client):
    response = clerk_client.post(
        ADD, {"place": "orsay", "purpose": "visit", "data": "", "lifetime": ""}, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    ticket = Ticket.objects.get()
    assert read_token(TOKEN_RE.search(html).group(1), "orsay", "visit").uuid == ticket.uuid
    assert 'id="ticketoffice-url"' not in html
    assert ticket.data == {}
    assert ticket.expiry_datetime is None


def test_add_only_staff_get_the_credential_on_the_issue_page():
    client = staff_client("add_ticket")
    response = client.post(ADD, {"place": "orsay", "purpose": "visit", "data": "{}"})
    assert response.status_code == 200
    token = TOKEN_RE.search(response.content.decode()).group(1)
    assert read_token(token, "orsay", "visit").uuid == Ticket.objects.get().uuid


def test_add_with_an_unresolvable_configured_url_warns(admin_client, settings):
    settings.TICKETOFFICE_URLS = {"louvre:visit": "no-such-url-name"}
    response = admin_client.post(ADD, {"place": "louvre", "purpose": "visit"}, follow=True)
    html = response.content.decode()
    assert TOKEN_RE.search(html)
    assert 'id="ticketoffice-url"' not in html
    assert "does not resolve" in html


def test_add_sends_ticket_issued(admin_client, django_capture_on_commit_callbacks):
    from django_ticketoffice.signals import ticket_issued

    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    ticket_issued.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(ADD, {"place": "louvre", "purpose": "visit"})
    finally:
        ticket_issued.disconnect(receiver)
    assert [kwargs["ticket"].pk for kwargs in received] == [Ticket.objects.get().pk]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"data": '{"first_name": "Léonard"'}, "data", "Enter valid JSON"),
        ({"data": "first_name=Léonard"}, "data", "Enter valid JSON"),
        ({"lifetime": "tomorrow"}, "lifetime", "Invalid duration"),
        ({"lifetime": "-3d"}, "lifetime", "Invalid duration"),
        ({"lifetime": "0m"}, "lifetime", "must be positive"),
        ({"place": "x" * 51}, "place", "at most 50 characters"),
    ],
)
def test_add_form_errors(admin_client, form, field, message):
    response = admin_client.post(ADD, {"place": "louvre", "purpose": "visit", **form})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field]), errors
    assert Ticket.objects.count() == 0


def test_add_form_refuses_expiry_and_lifetime_together(admin_client):
    future = timezone.now() + timedelta(days=1)
    response = admin_client.post(
        ADD,
        {
            "place": "louvre",
            "purpose": "visit",
            "expiry_datetime_0": future.strftime("%Y-%m-%d"),
            "expiry_datetime_1": "12:00:00",
            "lifetime": "2h",
        },
    )
    assert response.status_code == 200
    assert "not both" in str(response.context["adminform"].form.non_field_errors())
    assert Ticket.objects.count() == 0


def test_add_form_refuses_an_expiry_in_the_past(admin_client):
    response = admin_client.post(
        ADD,
        {
            "place": "louvre",
            "purpose": "visit",
            "expiry_datetime_0": "2001-01-01",
            "expiry_datetime_1": "12:00:00",
        },
    )
    assert response.status_code == 200
    assert "in the past" in " ".join(response.context["adminform"].form.errors["expiry_datetime"])


def test_add_form_keeps_invalid_json_for_correction(admin_client):
    response = admin_client.post(ADD, {"place": "louvre", "data": '{"a": 1,}'})
    assert b"{&quot;a&quot;: 1,}" in response.content
