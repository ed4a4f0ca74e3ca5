"""The seed example of the 0.2 README, end to end, exactly as issue 2 writes it."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils.timezone import now

from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket

pytestmark = pytest.mark.django_db

WELCOME = "Welcome to the Louvre museum Léonard".encode()


def seed_ticket(place="louvre", purpose="visit", expiry=timedelta(days=5)):
    # As written in the issue (only the place is a parameter, for the wrong-place case).
    ticket = Ticket(place=place, purpose=purpose)
    ticket.set_password("I love Paris")
    ticket.expiry_datetime = now() + expiry
    ticket.data = {"first_name": "Léonard"}
    ticket.save()
    visit_url = (
        reverse("louvre") + "?" + urlencode({"uuid": ticket.uuid, "password": "I love Paris"})
    )
    return ticket, visit_url


def follow(client, visit_url):
    response = client.get(visit_url)
    if response.status_code == 302:
        assert response["Location"] == reverse("louvre")
        response = client.get(response["Location"])
    return response


def test_welcome_page_once(client):
    ticket, visit_url = seed_ticket()
    response = client.get(visit_url)
    assert response.status_code == 302
    assert response["Location"] == "/louvre/"
    assert "I love Paris" not in response["Location"]
    assert not Ticket.objects.get(pk=ticket.pk).used
    response = client.get(response["Location"])
    assert response.status_code == 200
    assert response.content == WELCOME
    assert Ticket.objects.get(pk=ticket.pk).used
    # Any later visit is refused: the same session, the same link, another browser.
    response = client.get("/louvre/")
    assert response.status_code == 403
    assert b'data-reason="used"' in response.content
    assert follow(client, visit_url).status_code == 403
    client.cookies.clear()
    assert follow(client, visit_url).status_code == 403
    assert client.get("/louvre/").status_code == 401


def test_wrong_password(client):
    ticket, visit_url = seed_ticket()
    wrong = visit_url.replace("I+love+Paris", "I+love+Rome")
    assert wrong != visit_url
    response = client.get(wrong)
    assert response.status_code == 403
    assert b'data-reason="invalid"' in response.content
    assert not Ticket.objects.get(pk=ticket.pk).used
    assert follow(client, visit_url).content == WELCOME


def test_wrong_place(client):
    ticket, visit_url = seed_ticket(place="orsay")
    response = client.get(visit_url)
    assert response.status_code == 403
    assert b'data-reason="invalid"' in response.content
    assert not Ticket.objects.get(pk=ticket.pk).used


def test_wrong_purpose(client):
    _, visit_url = seed_ticket(purpose="work")
    assert client.get(visit_url).status_code == 403


def test_expired(client):
    ticket, visit_url = seed_ticket(expiry=-timedelta(seconds=1))
    response = client.get(visit_url)
    assert response.status_code == 403
    assert b'data-reason="expired"' in response.content
    assert not Ticket.objects.get(pk=ticket.pk).used


def test_expires_between_redirect_and_visit(client):
    ticket, visit_url = seed_ticket()
    assert client.get(visit_url).status_code == 302
    Ticket.objects.filter(pk=ticket.pk).update(expiry_datetime=now() - timedelta(seconds=1))
    response = client.get("/louvre/")
    assert response.status_code == 403
    assert b'data-reason="expired"' in response.content


def test_hyphenless_uuid_link(client):
    ticket, _ = seed_ticket()
    visit_url = "/louvre/?" + urlencode({"uuid": ticket.uuid.hex, "password": "I love Paris"})
    assert follow(client, visit_url).content == WELCOME


def test_issued_token_link_end_to_end(client, stamp_cache):
    """The modern spelling of the same story: issue(), ticket_url(), one visit."""
    _ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    assert len(token) <= 100, token
    link = ticket_url("louvre", token)
    response = client.get(link)
    assert response.status_code == 302
    assert response["Location"] == reverse("louvre")
    response = client.get(response["Location"])
    assert response.status_code == 200, response.content
    assert response.content == WELCOME
    response = client.get(link)
    assert response.status_code == 403
    assert b"This link has already been used" in response.content
