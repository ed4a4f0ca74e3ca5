"""The refusal pages: our static pages are rendered once, overrides render normally."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from django_ticketoffice import views
from django_ticketoffice.exceptions import CredentialsError, NoTicketError, TicketUsedError
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket


@pytest.fixture(autouse=True)
def _empty_page_cache():
    views._pages.clear()
    yield
    views._pages.clear()


def test_own_pages_are_rendered_once_per_reason(rf):
    first = views.refuse(rf.get("/"), TicketUsedError(genuine=True))
    assert first.status_code == 403
    assert b'data-reason="used"' in first.content
    assert list(views._pages) == [("ticketoffice/403.html", "used", "en-us", None)]
    second = views.refuse(rf.get("/"), TicketUsedError(genuine=True))
    assert second.content == first.content
    forged = views.refuse(rf.get("/"), TicketUsedError(genuine=False))
    assert b'data-reason="invalid"' in forged.content
    missing = views.refuse(rf.get("/"), NoTicketError())
    assert missing.status_code == 401
    assert len(views._pages) == 3


def test_cached_page_served_without_template_rendering(client):
    client.get("/peek/")  # renders and caches the 401 page
    response = client.get("/peek/")
    assert response.status_code == 401
    assert response.templates == []
    assert response.content == views._pages[("ticketoffice/401.html", "missing", "en-us", None)]


def test_debug_renders_every_time(rf, settings):
    settings.DEBUG = True
    response = views.refuse(rf.get("/"), CredentialsError())
    assert response.status_code == 403
    assert response.template_name == "ticketoffice/403.html"
    assert views._pages == {}


def test_overridden_template_gets_the_request_context(client, settings, tmp_path):
    (tmp_path / "ticketoffice").mkdir()
    (tmp_path / "ticketoffice" / "403.html").write_text(
        "custom {{ reason }} for {{ request.method }}"
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]},
    ]
    first = client.post("/peek/?ticket=forged")
    second = client.post("/peek/?ticket=forged")
    for response in (first, second):
        assert response.status_code == 403
        assert response.content == b"custom invalid for POST"
        assert "ticketoffice/403.html" in [t.name for t in response.templates]
    assert views._pages == {}


def test_overridden_base_template_is_not_cached(client, settings, tmp_path):
    (tmp_path / "ticketoffice").mkdir()
    (tmp_path / "ticketoffice" / "base.html").write_text(
        "site chrome for {{ request.method }}: {% block content %}{% endblock %}"
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]},
    ]
    for _ in range(2):
        response = client.post("/peek/?ticket=forged")
        assert response.status_code == 403
        assert response.content.startswith(b"site chrome for POST: ")
        assert b'data-reason="invalid"' in response.content
    assert views._pages == {}


def test_protect_response_overrides_weaker_cache_headers(rf):
    from django.http import HttpResponse

    response = HttpResponse("x", headers={"Cache-Control": "public, max-age=3600"})
    views.protect_response(response)
    assert "no-store" in response["Cache-Control"]
    assert "public" not in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


# "Request a new link" -----------------------------------------------------------------


NEW_LINK = re.compile(rb'<p class="new-link"><a href="([^"]+)">Request a new link</a></p>')


def new_link(response) -> str | None:
    match = NEW_LINK.search(response.content)
    return match.group(1).decode() if match else None


@pytest.fixture
def louvre(db):
    """A valid, a used, an expired and a revoked louvre/visit ticket, with their links."""
    links = {}
    for state in ("valid", "used", "expired", "revoked"):
        ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "L"})
        links[state] = ticket_url("louvre", token)
        if state == "used":
            ticket.use()
        elif state == "expired":
            Ticket.objects.filter(pk=ticket.pk).update(
                expiry_datetime=timezone.now() - timedelta(hours=1)
            )
        elif state == "revoked":
            ticket.revoke()
    return links


@pytest.mark.parametrize("state", ["used", "expired", "revoked"])
@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"louvre:visit": "peek", "*": "/elsewhere/"}, "/peek/"),
        ({"orsay:visit": "peek", "*": "/ask-again/"}, "/ask-again/"),
        ("https://museum.example.com/contact/", "https://museum.example.com/contact/"),
    ],
)
def test_finished_links_offer_a_new_one(client, settings, louvre, state, setting, expected):
    settings.TICKETOFFICE_NEW_LINK_URLS = setting
    response = client.get(louvre[state])
    assert response.status_code == 403
    assert f'data-reason="{state}"'.encode() in response.content
    assert new_link(response) == expected


def test_no_new_link_without_the_setting(client, louvre):
    for state in ("used", "expired", "revoked"):
        assert new_link(client.get(louvre[state])) is None


def test_invalid_credentials_get_one_identical_page(client, settings, louvre):
    """Forged, unknown and wrong-secret credentials: the same bytes, no link: no oracle."""
    settings.TICKETOFFICE_NEW_LINK_URLS = {"louvre:visit": "peek", "*": "/ask-again/"}
    valid = louvre["valid"]
    forged = client.get(valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB"))
    chosen = Ticket.objects.create(place="louvre", purpose="visit")
    chosen.set_password("right")
    chosen.save()
    wrong_secret = client.get(f"/louvre/?uuid={chosen.uuid}&password=wrong")
    unknown = client.get(f"/louvre/?uuid={uuid.uuid4()}&password=whatever")
    _foreign, token = Ticket.objects.issue("orsay", "visit")
    wrong_place = client.get(ticket_url("louvre", token))
    pages = [forged, wrong_secret, unknown, wrong_place]
    assert {page.status_code for page in pages} == {403}
    assert len({page.content for page in pages}) == 1
    assert b'data-reason="invalid"' in forged.content
    assert new_link(forged) is None
    # Without a ticket at all: the 401 page, no link either.
    assert new_link(client.get("/peek/")) is None


def test_a_new_link_name_that_does_not_resolve_shows_no_link(client, settings, louvre, caplog):
    settings.TICKETOFFICE_NEW_LINK_URLS = "no-such-url-name"
    response = client.get(louvre["used"])
    assert response.status_code == 403
    assert new_link(response) is None
    assert "'no-such-url-name' is not a URL name" in caplog.text


def test_new_link_pages_are_cached_per_url(client, settings, louvre):
    settings.TICKETOFFICE_NEW_LINK_URLS = {"louvre:visit": "/again/"}
    client.get(louvre["used"])
    assert ("ticketoffice/403.html", "used", "en-us", "/again/") in views._pages
    settings.TICKETOFFICE_NEW_LINK_URLS = {"louvre:visit": "/other/"}
    assert new_link(client.get(louvre["used"])) == "/other/"


def test_a_locked_ticket_page_offers_the_new_link_it_asks_for(rf, settings):
    from django_ticketoffice.exceptions import TicketLockedError

    settings.TICKETOFFICE_NEW_LINK_URLS = "/again/"
    locked = views.refuse(rf.get("/"), TicketLockedError(genuine=True)).content.decode()
    assert "Please ask for a new link" in locked
    assert '<a href="/again/">' in locked
    # A guess (not genuine) still gets the one generic page, without the link.
    guessed = views.refuse(rf.get("/"), TicketLockedError(genuine=False)).content.decode()
    assert '<a href="/again/">' not in guessed and 'data-reason="invalid"' in guessed
