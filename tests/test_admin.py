"""The ticket office in the Django admin, through the test client."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_ticketoffice.admin import TicketAdmin
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket
from django_ticketoffice.stamps import get_store
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
    headers = re.findall(r'<th scope="col"[^>]*class="([^"]*)"', html)
    columns = [h.split()[-1] if "column-" in h else h for h in headers]
    assert [c for c in columns if c.startswith("column-")] == [
        "column-short_uuid",
        "column-place",
        "column-purpose",
        "column-status_display",
        "column-uses_display",
        "column-created",
        "column-expires",
    ]
    for label in (">UUID<", ">Place<", ">Purpose<", ">Status<", ">Created<", ">Expires<"):
        assert label in html, label
    assert "Uuid" not in html
    statuses = {t.uuid: t.status for t in response.context["cl"].result_list}
    assert statuses == {t.uuid: state for state, t in tickets.items()}
    # A short uuid, the whole one on hover; used and revoked rows say when.
    valid = tickets["valid"]
    assert f'<span title="{valid.uuid}">{str(valid.uuid)[:8]}</span>' in html
    assert f">{valid.uuid}<" not in html
    assert re.search(r"used \d\d/\d\d/\d{4}", html)
    assert re.search(r"revoked \d\d/\d\d/\d{4}", html)
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


# Revoking: a confirmation page first, then a history entry per ticket ------------------


def revoke_url(ticket: Ticket) -> str:
    return reverse("admin:django_ticketoffice_ticket_revoke", args=(ticket.pk,))


def reissue_url(ticket: Ticket) -> str:
    return reverse("admin:django_ticketoffice_ticket_reissue", args=(ticket.pk,))


def history(ticket: Ticket) -> list[str]:
    return [
        entry.get_change_message()
        for entry in LogEntry.objects.filter(object_id=str(ticket.pk)).order_by("pk")
    ]


def test_revoke_action_asks_first_and_lists_what_it_revokes(admin_client, tickets):
    selection = [tickets["valid"].pk, tickets["expired"].pk, tickets["used"].pk]
    response = admin_client.post(CHANGELIST, {"action": "revoke", "_selected_action": selection})
    assert response.status_code == 200
    assert response.templates[0].name.endswith("action_confirmation.html")
    html = response.content.decode()
    assert "Revoke 2 tickets? Their links are refused from now on" in html
    assert "1 selected ticket is skipped: already used or revoked." in html
    listed_uuids = re.findall(r"<code>([0-9a-f-]{36})</code>", html)
    assert sorted(listed_uuids) == sorted(
        [str(tickets["valid"].uuid), str(tickets["expired"].uuid)]
    )
    # The form posts the same selection back, with the confirmation.
    for pk in selection:
        assert f'name="_selected_action" value="{pk}"' in html
    assert 'name="post" value="yes"' in html
    assert 'name="action" value="revoke"' in html
    # Nothing was revoked yet, and nothing was logged.
    assert Ticket.objects.revoked().count() == 1
    assert LogEntry.objects.count() == 0


def test_revoke_action_confirmed_revokes_stamps_and_logs_each_ticket(
    admin_client,
    redis,
    django_capture_on_commit_callbacks,
    django_assert_num_queries,
):
    ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    other, _ = Ticket.objects.issue("louvre", "visit")
    used, _ = Ticket.objects.issue("louvre", "visit")
    Ticket.objects.filter(pk=used.pk).update(usage_datetime=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST,
            {"action": "revoke", "_selected_action": [ticket.pk, other.pk, used.pk], "post": "yes"},
            follow=True,
        )
    assert response.status_code == 200
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert texts == ["2 tickets were revoked. 1 was skipped: already used or revoked."]
    assert set(Ticket.objects.revoked()) == {ticket, other}
    assert redis.get(get_store().key(ticket.uuid)) == b"revoked"
    assert history(ticket) == ["Revoked."]
    assert history(other) == ["Revoked."]
    assert history(used) == []
    assert LogEntry.objects.get(object_id=str(ticket.pk)).action_flag == CHANGE
    used.refresh_from_db()
    # Recorded (a use in flight that fails must not revive it), but it stays "used".
    assert used.revocation_datetime is not None
    assert used.status == "used"

    visitor = Client()
    with django_assert_num_queries(0):
        response = visitor.get(ticket_url("louvre", token))
    assert response.status_code == 403
    assert b"revoked" in response.content


def test_revoke_action_on_a_large_selection_writes_one_summary_entry(
    admin_client, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(TicketAdmin, "revoke_log_limit", 3)
    monkeypatch.setattr(TicketAdmin, "confirmation_list_limit", 2)
    issued = [Ticket.objects.issue("louvre", "visit")[0] for _ in range(5)]
    pks = [ticket.pk for ticket in issued]
    # "Select all 5 tickets" across pages: the confirmation keeps select_across.
    page = admin_client.post(
        CHANGELIST, {"action": "revoke", "_selected_action": pks[:1], "select_across": "1"}
    )
    html = page.content.decode()
    assert "Revoke 5 tickets?" in html
    assert "and 3 more tickets" in html
    assert 'name="select_across" value="1"' in html
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST,
            {
                "action": "revoke",
                "_selected_action": pks[:1],
                "select_across": "1",
                "post": "yes",
            },
            follow=True,
        )
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["5 tickets were revoked."]
    assert Ticket.objects.revoked().count() == 5
    (entry,) = LogEntry.objects.all()
    assert entry.object_id is None
    assert entry.object_repr == "5 tickets"
    assert entry.get_change_message() == "Revoked 5 tickets in one action."
    assert entry.action_flag == CHANGE


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
    assert texts == ["Nothing to revoke: the selected tickets are already used or revoked."]
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
        CHANGELIST,
        {"action": "revoke", "_selected_action": [tickets["valid"].pk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    tickets["valid"].refresh_from_db()
    assert tickets["valid"].revocation_datetime is None


def test_revoke_button_asks_then_revokes_stamps_and_logs(
    admin_client, redis, django_capture_on_commit_callbacks
):
    ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    page = admin_client.get(change_url(ticket)).content.decode()
    assert f'href="{revoke_url(ticket)}" class="deletelink" id="ticketoffice-revoke"' in page

    confirmation = admin_client.get(revoke_url(ticket))
    assert confirmation.status_code == 200
    html = confirmation.content.decode()
    assert "Revoke 1 ticket? Its link is refused from now on, everywhere." in html
    assert f"<code>{ticket.uuid}</code>" in html
    assert f'href="{change_url(ticket)}" class="button cancel-link"' in html
    ticket.refresh_from_db()
    assert not ticket.revoked  # looking at the question revokes nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(revoke_url(ticket), {"post": "yes"})
    assert response.status_code == 302
    assert response["Location"] == change_url(ticket)
    ticket.refresh_from_db()
    assert ticket.revoked
    assert redis.get(get_store().key(ticket.uuid)) == b"revoked"
    assert history(ticket) == ["Revoked."]
    page = admin_client.get(change_url(ticket))
    assert [str(m) for m in page.context["messages"]] == ["The ticket was revoked."]
    assert b"ticketoffice-revoke" not in page.content
    assert Client().get(ticket_url("louvre", token)).status_code == 403


def test_old_revoke_button_post_goes_to_the_confirmation(admin_client, tickets):
    valid = tickets["valid"]
    response = admin_client.post(change_url(valid), {"_revoke": "Revoke"})
    assert response.status_code == 303
    assert response["Location"] == revoke_url(valid)
    valid.refresh_from_db()
    assert not valid.revoked


def test_revoke_button_on_a_used_ticket_says_nothing_changed(admin_client, tickets):
    used = tickets["used"]
    assert b"ticketoffice-revoke" not in admin_client.get(change_url(used)).content
    response = admin_client.post(revoke_url(used), {"post": "yes"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "The ticket was already used or revoked: nothing changed."
    ]
    used.refresh_from_db()
    assert used.status == "used"
    assert history(used) == []


def test_revoke_button_needs_the_revoke_permission(clerk_client, tickets):
    valid = tickets["valid"]
    page = clerk_client.get(change_url(valid))
    assert page.status_code == 200
    assert b"ticketoffice-revoke" not in page.content
    assert clerk_client.get(revoke_url(valid)).status_code == 403
    assert clerk_client.post(revoke_url(valid), {"post": "yes"}).status_code == 403
    valid.refresh_from_db()
    assert valid.revocation_datetime is None


def test_revoke_permission_alone_is_enough_to_revoke(tickets, django_capture_on_commit_callbacks):
    client = staff_client("view_ticket", "revoke_ticket")
    valid = tickets["valid"]
    page = client.get(change_url(valid)).content
    assert b'id="ticketoffice-revoke"' in page
    assert b'id="ticketoffice-reissue"' not in page  # re-issuing also needs "add"
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(revoke_url(valid), {"post": "yes"}).status_code == 302
    valid.refresh_from_db()
    assert valid.revoked
    changelist = client.get(CHANGELIST)
    choices = dict(changelist.context["action_form"].fields["action"].choices)
    assert "revoke" in choices
    assert "reissue" not in choices


def test_revoke_button_for_a_missing_ticket_is_404(admin_client):
    response = admin_client.post(
        reverse("admin:django_ticketoffice_ticket_revoke", args=(999999,)), {"post": "yes"}
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


def test_change_page_labels(admin_client, tickets):
    ticket = tickets["valid"]
    html = admin_client.get(change_url(ticket)).content.decode()
    assert "<label>UUID:</label>" in html
    assert f'<div class="readonly">{ticket.uuid}</div>' in html
    assert '<label for="id_data">Data:</label>' in html
    assert "Uuid" not in html


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


def test_change_form_shows_empty_data_as_an_empty_box(admin_client):
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    html = admin_client.get(change_url(ticket)).content.decode()
    assert re.search(r'<textarea name="data"[^>]*>\s*</textarea>', html)


# Issuing -------------------------------------------------------------------------


def issue_form(**fields: str) -> dict[str, str]:
    return {"place": "louvre", "purpose": "visit", **fields}


def test_add_form_has_the_issuing_fields(admin_client):
    response = admin_client.get(ADD)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert set(form.fields) == {
        "place",
        "purpose",
        "data",
        "expiry_datetime",
        "lifetime",
        "never_expires",
        "max_uses",
        "unlimited_uses",
        "max_attempts",
    }
    assert form.fields["place"].required and form.fields["purpose"].required
    html = response.content.decode()
    assert b"_addanother" not in response.content
    assert b"_continue" not in response.content
    # Labels are capitalised like Django's own, and the data box is empty, not "null".
    for label in ("Place:", "Purpose:", "Data:", "Lifetime:", "Expires:", "Never expires"):
        assert label in html, label
    assert "data:</label>" not in html and "lifetime:</label>" not in html
    assert re.search(r'<textarea name="data"[^>]*>\s*</textarea>', html)
    assert "null" not in re.search(r'<textarea name="data"[^>]*>[^<]*<', html).group(0)
    assert 'placeholder="1w"' in html
    assert "the default lifetime, 1w" in html


def test_empty_add_form_issues_nothing(admin_client):
    response = admin_client.post(ADD, {"place": "", "purpose": "", "data": "", "lifetime": ""})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["place"] == ["This field is required."]
    assert errors["purpose"] == ["This field is required."]
    assert Ticket.objects.count() == 0


def test_add_form_offers_the_configured_places_and_purposes(admin_client, settings):
    settings.TICKETOFFICE_URLS = {"louvre:visit": "louvre", "orsay:guide": "/orsay/"}
    page = admin_client.get(ADD)
    form = page.context["adminform"].form
    assert "place" not in form.fields and "purpose" not in form.fields
    assert list(form.fields["target"].choices) == [
        ("", "---------"),
        ("louvre:visit", "louvre / visit"),
        ("orsay:guide", "orsay / guide"),
    ]
    assert b"Place and purpose" in page.content

    response = admin_client.post(ADD, {"target": "orsay:nonsense"})
    assert response.status_code == 200
    assert "Select a valid choice" in str(response.context["adminform"].form.errors["target"])
    assert response.context["adminform"].form.errors
    response = admin_client.post(ADD, {"target": ""})
    assert "This field is required." in str(response.context["adminform"].form.errors)
    assert Ticket.objects.count() == 0

    response = admin_client.post(ADD, {"target": "orsay:guide"})
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert (ticket.place, ticket.purpose) == ("orsay", "guide")
    token = TOKEN_RE.search(response.content.decode()).group(1)
    assert read_token(token, "orsay", "guide").uuid == ticket.uuid


def test_add_uses_the_default_lifetime(admin_client, settings):
    admin_client.post(ADD, issue_form())
    ticket = Ticket.objects.get()
    lifetime = ticket.expiry_datetime - ticket.creation_datetime
    assert timedelta(days=7) - timedelta(minutes=1) < lifetime <= timedelta(days=7, minutes=1)

    settings.TICKETOFFICE_DEFAULT_LIFETIME = timedelta(hours=3)
    page = admin_client.get(ADD).content.decode()
    assert 'placeholder="3h"' in page
    response = admin_client.post(ADD, issue_form(purpose="guide"))
    assert response.status_code == 200
    ticket = Ticket.objects.get(purpose="guide")
    lifetime = ticket.expiry_datetime - ticket.creation_datetime
    assert timedelta(hours=3) - timedelta(minutes=1) < lifetime <= timedelta(hours=3, minutes=1)


def test_add_never_expires_only_when_chosen(admin_client, settings):
    response = admin_client.post(ADD, issue_form(never_expires="on"))
    assert response.status_code == 200
    assert Ticket.objects.get().expiry_datetime is None
    response = admin_client.post(ADD, issue_form(never_expires="on", lifetime="2h"))
    assert response.status_code == 200
    assert "only one of them" in str(response.context["adminform"].form.non_field_errors())
    assert Ticket.objects.count() == 1
    # A project without a default lifetime says so in its settings.
    settings.TICKETOFFICE_DEFAULT_LIFETIME = None
    admin_client.post(ADD, issue_form())
    assert Ticket.objects.filter(expiry_datetime__isnull=True).count() == 2


def test_add_shows_the_credential_once_in_the_response(admin_client, settings):
    settings.TICKETOFFICE_URLS = {"louvre:visit": "louvre"}
    response = admin_client.post(
        ADD,
        {
            "target": "louvre:visit",
            "data": '{"first_name": "Léonard"}',
            "lifetime": "2h",
        },
    )
    ticket = Ticket.objects.get()
    # No redirect: the redirect would need the token stored somewhere until the next page.
    assert response.status_code == 200
    html = response.content.decode()
    token = TOKEN_RE.search(html).group(1)
    assert read_token(token, "louvre", "visit").uuid == ticket.uuid
    url = URL_RE.search(html).group(1).replace("&amp;", "&")
    assert url == "http://testserver" + ticket_url("louvre", token)
    assert "no-store" in response["Cache-Control"]
    # same-origin, not no-referrer: this page links into the admin, which posts forms.
    assert response["Referrer-Policy"] == "same-origin"
    assert "Copy the credential now" in html
    # Copy buttons for the token and the link, from a local script.
    assert 'data-ticketoffice-copy="ticketoffice-token"' in html
    assert 'data-ticketoffice-copy="ticketoffice-url"' in html
    assert '<script src="/static/django_ticketoffice/admin/ticketoffice.js" defer>' in html
    assert f'href="{change_url(ticket)}"' in html
    assert 'id="ticketoffice-popup-done"' not in html
    assert "TICKETOFFICE_URLS has no entry" not in html

    # The database keeps only a hash; the ticket has the form's values.
    assert ticket.password.startswith("ticketoffice_sha256$")
    assert ticket.data == {"first_name": "Léonard"}
    lifetime = ticket.expiry_datetime - ticket.creation_datetime
    assert timedelta(hours=2) - timedelta(minutes=1) < lifetime <= timedelta(hours=2, minutes=1)
    for value in Ticket.objects.values_list(flat=False).get():
        assert token not in str(value)

    # The ticket's page never shows it.
    again = admin_client.get(change_url(ticket)).content.decode()
    assert 'id="ticketoffice-token"' not in again
    assert token not in again

    # And the link works, once.
    visitor = Client()
    response = visitor.get(url)
    assert response.status_code == 302
    assert visitor.get(response["Location"]).content.decode().endswith("Léonard")


def test_copy_script_ships_with_the_package():
    from django.contrib.staticfiles import finders  # noqa: F401  (not installed in tests)

    import django_ticketoffice

    script = (
        Path(django_ticketoffice.__file__).parent
        / "static/django_ticketoffice/admin/ticketoffice.js"
    )
    text = script.read_text()
    assert "navigator.clipboard" in text and "execCommand" in text  # works on plain http too
    assert "http" not in text.replace("http://", "").lower() or "//" not in text


def test_add_without_configured_url_explains_how_to_get_a_link(clerk_client):
    response = clerk_client.post(ADD, issue_form(place="orsay", data="", lifetime=""))
    assert response.status_code == 200
    html = response.content.decode()
    ticket = Ticket.objects.get()
    assert read_token(TOKEN_RE.search(html).group(1), "orsay", "visit").uuid == ticket.uuid
    assert 'id="ticketoffice-url"' not in html
    assert "TICKETOFFICE_URLS has no entry for “orsay:visit”" in html
    assert '@invitation_required(place="orsay", purpose="visit"), followed by ?ticket=' in html
    assert """TICKETOFFICE_URLS = {"orsay:visit": "the view's URL name"}""" in html
    assert ticket.data == {}


def test_add_only_staff_get_the_credential_on_the_issue_page():
    client = staff_client("add_ticket")
    response = client.post(ADD, issue_form(place="orsay", data="{}"))
    assert response.status_code == 200
    token = TOKEN_RE.search(response.content.decode()).group(1)
    assert read_token(token, "orsay", "visit").uuid == Ticket.objects.get().uuid
    assert f'href="{CHANGELIST}"'.encode() not in response.content
    assert f'href="{ADD}"'.encode() in response.content


def test_add_with_an_unresolvable_configured_url_says_so(admin_client, settings):
    settings.TICKETOFFICE_URLS = {"louvre:visit": "no-such-url-name"}
    response = admin_client.post(ADD, {"target": "louvre:visit"})
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
            admin_client.post(ADD, issue_form())
    finally:
        ticket_issued.disconnect(receiver)
    assert [kwargs["ticket"].pk for kwargs in received] == [Ticket.objects.get().pk]


def test_resubmitted_add_form_issues_no_second_ticket(admin_client):
    page = admin_client.get(ADD).content.decode()
    nonce = re.search(r'name="_ticketoffice_form" value="([^"]+)"', page).group(1)
    form = issue_form(_ticketoffice_form=nonce)
    first = admin_client.post(ADD, form)
    assert first.status_code == 200
    ticket = Ticket.objects.get()
    # The browser's "resend the form?" after a reload of the credential page:
    again = admin_client.post(ADD, form, follow=True)
    assert Ticket.objects.count() == 1
    assert again.redirect_chain == [(change_url(ticket), 302)]
    (message,) = [str(m) for m in again.context["messages"]]
    assert message.startswith(f"This form was already sent, and issued the ticket {ticket}.")
    assert not TOKEN_RE.search(again.content.decode())
    # A form with errors keeps its nonce, so that the corrected submission counts once.
    page = admin_client.get(ADD).content.decode()
    nonce = re.search(r'name="_ticketoffice_form" value="([^"]+)"', page).group(1)
    bad = admin_client.post(ADD, issue_form(_ticketoffice_form=nonce, lifetime="soon"))
    assert f'name="_ticketoffice_form" value="{nonce}"' in bad.content.decode()


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
    assert "only one of them" in str(response.context["adminform"].form.non_field_errors())
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
