"""ticket_url: building the one-link URL, relative or absolute."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import NoReverseMatch

from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket

TOKEN = (
    "ETpH7u6P30m9ktxfSK78DmFw3IFADj-demnWuVqC8TEUM4KoeQ.qijlIa2t1OWsrApx6wW2LfylNqXlX-xoqqcrc67DqKk"
)


def test_url_name():
    assert ticket_url("louvre", TOKEN) == f"/louvre/?ticket={TOKEN}"


def test_path():
    assert ticket_url("/somewhere/else/", TOKEN) == f"/somewhere/else/?ticket={TOKEN}"


def test_args_and_kwargs():
    assert ticket_url("room", TOKEN, args=[12]) == f"/rooms/12/?ticket={TOKEN}"
    assert ticket_url("room", TOKEN, kwargs={"room": 7}) == f"/rooms/7/?ticket={TOKEN}"
    assert ticket_url("fail", TOKEN, kwargs={"status": 400}) == f"/fail/400/?ticket={TOKEN}"


def test_existing_query_string():
    assert ticket_url("/peek/?page=2&q=a+b", TOKEN) == f"/peek/?page=2&q=a+b&ticket={TOKEN}"


def test_fragment_stays_last():
    assert ticket_url("/peek/?page=2#top", TOKEN) == f"/peek/?page=2&ticket={TOKEN}#top"


def test_unknown_name():
    with pytest.raises(NoReverseMatch):
        ticket_url("no-such-view", TOKEN)


def test_custom_parameter(settings):
    settings.TICKETOFFICE_TOKEN_PARAMETER = "t"
    assert ticket_url("louvre", TOKEN) == f"/louvre/?t={TOKEN}"


def test_token_is_escaped():
    assert ticket_url("/peek/", "a b&c=d") == "/peek/?ticket=a+b%26c%3Dd"


def test_request_makes_it_absolute():
    request = RequestFactory().get("/", secure=True, HTTP_HOST="localhost")
    assert ticket_url("louvre", TOKEN, request=request) == (
        f"https://localhost/louvre/?ticket={TOKEN}"
    )
    request = RequestFactory().get("/")
    assert ticket_url("louvre", TOKEN, request=request) == (
        f"http://testserver/louvre/?ticket={TOKEN}"
    )


@pytest.mark.parametrize("base", ["https://tickets.example", "https://tickets.example/"])
def test_base_url_wins_over_request_host(settings, base):
    settings.TICKETOFFICE_BASE_URL = base
    # A poisoned Host header must not end up in the links we send.
    request = RequestFactory().get("/", HTTP_HOST="127.0.0.1")
    expected = f"https://tickets.example/louvre/?ticket={TOKEN}"
    assert ticket_url("louvre", TOKEN, request=request) == expected
    assert ticket_url("louvre", TOKEN) == expected
    assert ticket_url("/peek/?page=1", TOKEN) == (
        f"https://tickets.example/peek/?page=1&ticket={TOKEN}"
    )


def test_base_url_with_path_prefix(settings):
    settings.TICKETOFFICE_BASE_URL = "https://example.com/app"
    assert ticket_url("louvre", TOKEN) == f"https://example.com/app/louvre/?ticket={TOKEN}"


@pytest.mark.django_db
def test_link_round_trip(client):
    ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    link = ticket_url("peek", token, request=RequestFactory().get("/"))
    assert link.startswith("http://testserver/peek/?ticket=")
    response = client.get(link)
    assert response.status_code == 302
    assert response["Location"] == "/peek/"
    assert client.get("/peek/").content == f"peek {ticket.uuid} ".encode()
