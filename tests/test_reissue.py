"""Re-issue: Ticket.reissue(), the admin's button and bulk action, and their permissions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_ticketoffice.exceptions import TicketUsedError
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket
from django_ticketoffice.signals import ticket_issued, ticket_revoked
from django_ticketoffice.tokens import read_token
from tests.test_admin import CHANGELIST, TOKEN_RE, change_url, staff_client

pytestmark = pytest.mark.django_db

TOKENS_RE = re.compile(r'id="ticketoffice-token[^"]*"[^>]*>([^<]+)<')


def reissue_url(ticket: Ticket) -> str:
    return reverse("admin:django_ticketoffice_ticket_reissue", args=(ticket.pk,))


def close(a: timedelta, b: timedelta) -> bool:
    return abs(a - b) < timedelta(seconds=5)


# Ticket.reissue() ---------------------------------------------------------------


def test_reissue_keeps_place_purpose_data_and_lifetime(django_capture_on_commit_callbacks):
    old, old_token = Ticket.objects.issue(
        "louvre",
        "visit",
        data={"first_name": "Léonard", "seats": [1, 2]},
        lifetime=timedelta(days=3),
    )
    # Two days later, the guest lost the mail.
    Ticket.objects.filter(pk=old.pk).update(
        creation_datetime=timezone.now() - timedelta(days=2),
        expiry_datetime=timezone.now() + timedelta(days=1),
    )
    old.refresh_from_db()
    issued, revoked = [], []
    ticket_issued.connect(receiver_issued := lambda sender, **kw: issued.append(kw))
    ticket_revoked.connect(receiver_revoked := lambda sender, **kw: revoked.append(kw))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            new, token = old.reissue(request=None)
    finally:
        ticket_issued.disconnect(receiver_issued)
        ticket_revoked.disconnect(receiver_revoked)
    assert (new.place, new.purpose, new.data) == (old.place, old.purpose, old.data)
    assert new.pk != old.pk and new.uuid != old.uuid
    # The same lifetime as the original (3 days), counted from now.
    assert close(new.expiry_datetime - timezone.now(), timedelta(days=3))
    assert read_token(token, "louvre", "visit").uuid == new.uuid
    assert Ticket.objects.get(pk=old.pk).revoked and old.revoked
    assert not Ticket.objects.get(pk=new.pk).revoked
    assert [kw["ticket"].pk for kw in issued] == [new.pk]
    assert [kw["tickets"] for kw in revoked] == [[old.uuid]]
    # The old link is refused, the new one admits.
    visitor = Client()
    assert visitor.get(ticket_url("louvre", old_token)).status_code == 403
    assert visitor.get(ticket_url("louvre", token)).status_code == 302


def test_reissue_of_a_ticket_without_expiry_has_none():
    old, _ = Ticket.objects.issue("louvre", "visit")
    new, _ = old.reissue()
    assert new.expiry_datetime is None


def test_reissue_of_an_expired_or_revoked_ticket_gives_a_valid_one():
    expired, _ = Ticket.objects.issue("louvre", "visit", lifetime=timedelta(hours=2))
    Ticket.objects.filter(pk=expired.pk).update(
        creation_datetime=timezone.now() - timedelta(hours=5),
        expiry_datetime=timezone.now() - timedelta(hours=3),
    )
    expired.refresh_from_db()
    new, _ = expired.reissue()
    assert new.is_valid()
    assert close(new.expiry_datetime - timezone.now(), timedelta(hours=2))
    revoked, _ = Ticket.objects.issue("louvre", "visit")
    assert revoked.revoke()
    before = Ticket.objects.get(pk=revoked.pk).revocation_datetime
    again, _ = revoked.reissue()
    assert again.is_valid()
    assert Ticket.objects.get(pk=revoked.pk).revocation_datetime == before


def test_a_used_ticket_is_not_reissued():
    used, _ = Ticket.objects.issue("louvre", "visit")
    used.use()
    with pytest.raises(TicketUsedError):
        used.reissue()
    assert Ticket.objects.count() == 1
    assert not Ticket.objects.get().revoked


# The admin's button ---------------------------------------------------------------


def test_reissue_button_asks_then_shows_the_new_link_once(admin_client, settings):
    settings.TICKETOFFICE_URLS = {"louvre:visit": "louvre"}
    old, old_token = Ticket.objects.issue(
        "louvre", "visit", data={"first_name": "Léonard"}, lifetime=timedelta(days=3)
    )
    page = admin_client.get(change_url(old)).content.decode()
    assert f'href="{reissue_url(old)}" class="button" id="ticketoffice-reissue"' in page

    confirmation = admin_client.get(reissue_url(old))
    html = confirmation.content.decode()
    assert "Re-issue 1 ticket? It is revoked, and a new ticket with the same place" in html
    assert "lifetime 3d" in html
    assert Ticket.objects.count() == 1 and not Ticket.objects.get().revoked

    response = admin_client.post(reissue_url(old), {"post": "yes"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new = Ticket.objects.exclude(pk=old.pk).get()
    html = response.content.decode()
    token = TOKEN_RE.search(html).group(1)
    assert read_token(token, "louvre", "visit").uuid == new.uuid
    assert f"(re-issued from {old.uuid}, now revoked)" in html
    assert 'data-ticketoffice-copy="ticketoffice-url"' in html
    assert Ticket.objects.get(pk=old.pk).revoked
    entries = {(e.object_id, e.action_flag, e.get_change_message()) for e in LogEntry.objects.all()}
    assert entries == {
        (str(old.pk), CHANGE, f"Revoked, and re-issued as {new.uuid}."),
        (str(new.pk), ADDITION, f"Re-issued from {old.uuid}."),
    }
    # Shown once: the new ticket's page does not have it.
    assert token not in admin_client.get(change_url(new)).content.decode()
    assert Client().get(ticket_url("louvre", old_token)).status_code == 403


def test_reissue_button_on_a_used_ticket_says_so(admin_client):
    used, _ = Ticket.objects.issue("louvre", "visit")
    used.use()
    assert b"ticketoffice-reissue" not in admin_client.get(change_url(used)).content
    response = admin_client.post(reissue_url(used), {"post": "yes"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "The ticket was already used: it is not re-issued."
    ]
    assert Ticket.objects.count() == 1


@pytest.mark.parametrize(
    ("codenames", "allowed"),
    [
        (("view_ticket", "add_ticket"), False),
        (("view_ticket", "revoke_ticket"), False),
        (("view_ticket", "add_ticket", "revoke_ticket"), True),
    ],
)
def test_reissue_needs_the_add_and_revoke_permissions(codenames, allowed):
    client = staff_client(*codenames)
    ticket, _ = Ticket.objects.issue("louvre", "visit")
    page = client.get(change_url(ticket)).content
    assert (b'id="ticketoffice-reissue"' in page) is allowed
    action_form = client.get(CHANGELIST).context["action_form"]
    choices = dict(action_form.fields["action"].choices) if action_form else {}
    assert ("reissue" in choices) is allowed
    response = client.post(reissue_url(ticket), {"post": "yes"})
    assert response.status_code == (200 if allowed else 403)
    assert Ticket.objects.count() == (2 if allowed else 1)


# The bulk action ------------------------------------------------------------------


def test_reissue_action_asks_then_shows_every_new_link(admin_client):
    first, _ = Ticket.objects.issue("louvre", "visit", data={"n": 1}, lifetime=timedelta(hours=5))
    second, _ = Ticket.objects.issue("orsay", "guide", data={"n": 2})
    used, _ = Ticket.objects.issue("louvre", "visit")
    used.use()
    selection = {"action": "reissue", "_selected_action": [first.pk, second.pk, used.pk]}
    confirmation = admin_client.post(CHANGELIST, selection)
    html = confirmation.content.decode()
    assert "Re-issue 2 tickets?" in html
    assert "1 selected ticket is skipped: already used." in html
    assert "lifetime 5h" in html and "lifetime never expires" in html
    assert Ticket.objects.count() == 3

    response = admin_client.post(CHANGELIST, {**selection, "post": "yes"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "2 tickets re-issued" in html
    tokens = TOKENS_RE.findall(html)
    assert len(tokens) == 2
    new = {
        read_token(token, t.place, t.purpose).uuid
        for token, t in zip(tokens, [first, second], strict=True)
    }
    assert new == set(Ticket.objects.valid().values_list("uuid", flat=True))
    assert set(Ticket.objects.revoked()) == {first, second}
    assert Ticket.objects.count() == 5
    assert sorted(Ticket.objects.valid().values_list("data", flat=True), key=str) == [
        {"n": 1},
        {"n": 2},
    ]


def test_reissue_action_refuses_too_large_a_selection(admin_client, monkeypatch):
    from django_ticketoffice.admin import TicketAdmin

    monkeypatch.setattr(TicketAdmin, "reissue_limit", 2)
    pks = [Ticket.objects.issue("louvre", "visit")[0].pk for _ in range(3)]
    response = admin_client.post(
        CHANGELIST, {"action": "reissue", "_selected_action": pks, "post": "yes"}, follow=True
    )
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("Re-issue at most 2 tickets at once (3 selected).")
    assert Ticket.objects.count() == 3
    assert not Ticket.objects.revoked().exists()
