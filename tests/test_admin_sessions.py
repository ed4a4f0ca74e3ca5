"""No clear token outlives the page that shows it: not in the session, with any flow.

Database sessions make the session visible: after each flow, no row of
``django_session`` holds the token, decoded or not.
"""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client

from django_ticketoffice.models import Ticket
from django_ticketoffice.tokens import read_token
from tests.test_admin import ADD, TOKEN_RE, change_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def db_sessions(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    settings.TICKETOFFICE_URLS = {"louvre:visit": "louvre"}


@pytest.fixture
def staff(db_sessions) -> Client:
    user = User.objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def assert_not_in_sessions(*secrets: str) -> None:
    rows = list(Session.objects.all())
    assert rows, "the flow used a database session"
    for row in rows:
        decoded = json.dumps(row.get_decoded())
        for secret in secrets:
            assert secret not in row.session_data
            assert secret not in decoded


def test_add_keeps_the_token_out_of_the_session(staff):
    page = staff.get(ADD).content.decode()
    nonce = re.search(r'name="_ticketoffice_form" value="([^"]+)"', page).group(1)
    response = staff.post(
        ADD,
        {"target": "louvre:visit", "data": '{"first_name": "Ada"}', "_ticketoffice_form": nonce},
    )
    token = TOKEN_RE.search(response.content.decode()).group(1)
    assert_not_in_sessions(token, token[-22:])
    # What the session does keep: the form's nonce and the ticket's pk, no secret.
    (row,) = Session.objects.all()
    assert row.get_decoded()["ticketoffice:admin:sent-forms"] == {nonce: Ticket.objects.get().pk}
    # Every later page, too.
    staff.get(change_url(Ticket.objects.get()))
    assert_not_in_sessions(token)


def test_popup_shows_the_token_and_keeps_it_out_of_the_session(staff):
    response = staff.post(f"{ADD}?_popup=1", {"target": "louvre:visit", "_popup": "1"})
    assert response.status_code == 200
    html = response.content.decode()
    ticket = Ticket.objects.get()
    token = TOKEN_RE.search(html).group(1)
    assert read_token(token, "louvre", "visit").uuid == ticket.uuid
    assert "no-store" in response["Cache-Control"]
    # The popup hands the new ticket to its opener only when the button is pressed.
    data = re.search(r'id="ticketoffice-popup-done" data-popup-response="([^"]+)"', html).group(1)
    popup = json.loads(data.replace("&quot;", '"'))
    assert popup["value"] == str(ticket.pk)
    assert popup["obj"] == str(ticket)
    assert 'class="breadcrumbs"' not in html
    assert_not_in_sessions(token)


def test_reissue_keeps_the_token_out_of_the_session(staff):
    old, _ = Ticket.objects.issue("louvre", "visit")
    response = staff.post(f"/admin/django_ticketoffice/ticket/{old.pk}/reissue/", {"post": "yes"})
    token = TOKEN_RE.search(response.content.decode()).group(1)
    assert_not_in_sessions(token)
    response = staff.post(
        "/admin/django_ticketoffice/ticket/",
        {
            "action": "reissue",
            "_selected_action": [Ticket.objects.valid().get().pk],
            "post": "yes",
        },
    )
    token = TOKEN_RE.search(response.content.decode()).group(1)
    assert_not_in_sessions(token)
