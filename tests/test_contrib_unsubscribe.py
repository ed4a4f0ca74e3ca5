"""One-click unsubscribe (django_ticketoffice.contrib.unsubscribe), against RFC 8058.

RFC 8058 in short: the message carries one https URI in List-Unsubscribe and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (§3.1); the mail
receiver POSTs that body to the URI, as multipart/form-data or urlencoded,
without cookies, authorization or any other context (§3.2); the URI alone
identifies the recipient and the list and should be hard to forge (§3.3);
the sender must not answer with a redirect (§3.3). GET must not unsubscribe:
scanners fetch links.
"""

from __future__ import annotations

import email
import email.policy
import re
from importlib import import_module
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.test import Client

from django_ticketoffice.contrib.unsubscribe import ONE_CLICK, unsubscribe_headers
from django_ticketoffice.credentials import MASK, session_key
from django_ticketoffice.models import Ticket
from tests import mail_views
from tests.models import Visit

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:Django 2028 will not have a default mailer"),
]

BASE = "https://news.example.com"
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.TICKETOFFICE_BASE_URL = BASE
    mail_views.calls.clear()
    yield
    mail_views.calls.clear()


def provider():
    """A mail provider's HTTP client: no cookies, CSRF enforced as for any stranger."""
    return Client(enforce_csrf_checks=True)


def url_of(headers):
    match = re.fullmatch(r"<(https://[^>\s]+)>", headers["List-Unsubscribe"])
    assert match, headers
    parts = urlsplit(match.group(1))
    return f"{parts.path}?{parts.query}"


def one_click(url, *, multipart=True):
    """The POST of RFC 8058 §3.2 (multipart SHOULD, urlencoded MAY), over https."""
    if multipart:
        return provider().post(url, {"List-Unsubscribe": "One-Click"}, secure=True)
    return provider().post(
        url, ONE_CLICK_BODY, content_type="application/x-www-form-urlencoded", secure=True
    )


# The headers (§3.1, §3.3) ------------------------------------------------------------------------


def test_headers_carry_one_https_uri_and_the_one_click_key():
    headers = unsubscribe_headers("ada@example.com", "news")
    assert set(headers) == {"List-Unsubscribe", "List-Unsubscribe-Post"}
    assert headers["List-Unsubscribe-Post"] == ONE_CLICK == ONE_CLICK_BODY
    url = url_of(headers)
    assert url.startswith("/mail/unsubscribe/?ticket=")
    # Opaque and hard to forge: no address or list name in clear, a signed token.
    assert "ada" not in url and "news" not in url
    ticket = Ticket.objects.get()
    assert (ticket.place, ticket.purpose) == ("mail", "unsubscribe")
    assert ticket.data == {"recipient": "ada@example.com", "list": "news"}
    assert ticket.expiry_datetime is not None


def test_headers_survive_sending(mailoutbox):
    headers = unsubscribe_headers("ada@example.com", "news", data={"campaign": 7})
    EmailMessage("News", "Hello", to=["ada@example.com"], headers=headers).send()
    message = email.message_from_bytes(
        mailoutbox[0].message().as_bytes(), policy=email.policy.default
    )
    # Older Django folds the long line before the value: whitespace, the URL is intact.
    assert [v.strip() for v in message.get_all("List-Unsubscribe")] == [headers["List-Unsubscribe"]]
    assert [v.strip() for v in message.get_all("List-Unsubscribe-Post")] == [ONE_CLICK]
    assert Ticket.objects.get().data["campaign"] == 7


def test_a_mailto_may_follow_the_https_uri():
    headers = unsubscribe_headers("ada@example.com", "news", mailto="leave@news.example.com")
    https, mailto = headers["List-Unsubscribe"].split(", ")
    assert https.startswith("<https://") and mailto == "<mailto:leave@news.example.com>"


def test_the_uri_must_be_https_unless_debug(settings):
    settings.TICKETOFFICE_BASE_URL = "http://news.example.com"
    with pytest.raises(ImproperlyConfigured, match="https"):
        unsubscribe_headers("ada@example.com", "news")
    settings.DEBUG = True
    assert unsubscribe_headers("ada@example.com", "news")["List-Unsubscribe"].startswith("<http://")
    settings.TICKETOFFICE_BASE_URL = None
    with pytest.raises(ImproperlyConfigured, match="absolute"):
        unsubscribe_headers("ada@example.com", "news")


# The one-click POST (§3.2, §3.3) -----------------------------------------------------------------


@pytest.mark.parametrize("multipart", [True, False], ids=["multipart", "urlencoded"])
def test_one_click_post_unsubscribes_without_cookies_or_redirect(multipart):
    url = url_of(unsubscribe_headers("ada@example.com", "news"))
    response = one_click(url, multipart=multipart)
    assert response.status_code == 200  # not a redirect
    assert b"You are unsubscribed" in response.content
    assert not response.cookies  # no session, no CSRF cookie
    assert response["Cache-Control"].startswith("max-age=0, no-cache, no-store")
    assert response["Referrer-Policy"] == "no-referrer"
    [call] = mail_views.calls
    assert (call["recipient"], call["list"], call["cookies"]) == ("ada@example.com", "news", {})
    # The token is masked in the request once read: error reports never show it.
    assert call["query"] == f"ticket={MASK}"
    assert Ticket.objects.get().status == "used"


def test_a_second_post_is_a_harmless_200():
    url = url_of(unsubscribe_headers("ada@example.com", "news"))
    assert one_click(url).status_code == 200
    for _ in range(2):
        response = one_click(url)
        assert response.status_code == 200
        assert b"You are unsubscribed" in response.content
    assert len(mail_views.calls) == 1
    assert Visit.objects.count() == 1


def test_the_session_is_never_read(settings):
    """A browser that holds a remembered ticket in its session still needs the link."""
    url = url_of(unsubscribe_headers("ada@example.com", "news"))
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[session_key("mail", "unsubscribe")] = str(Ticket.objects.get().uuid)
    store.save()
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    assert browser.session[session_key("mail", "unsubscribe")]  # the cookie is good
    response = browser.post("/mail/unsubscribe/", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 401
    assert mail_views.calls == []
    assert one_click(url).status_code == 200


# GET and HEAD never unsubscribe ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "head"])
def test_get_and_head_only_confirm(method):
    url = url_of(unsubscribe_headers("ada@example.com", "news"))
    for _ in range(3):  # a scanner, a preview, a person
        response = getattr(Client(), method)(url, secure=True)
        assert response.status_code == 200
        assert not response.cookies
    assert mail_views.calls == []
    assert Ticket.objects.get().status == "valid"
    page = Client().get(url, secure=True).content.decode()
    assert "Stop sending news to ada@example.com?" in page
    # The button posts the one-click body to the same URL (no action: this URL).
    assert '<form method="post">' in page
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page


def test_the_confirmation_button_unsubscribes_a_person():
    url = url_of(unsubscribe_headers("ada@example.com", "news"))
    person = Client(enforce_csrf_checks=True)
    assert person.get(url, secure=True).status_code == 200
    response = person.post(url, {"List-Unsubscribe": "One-Click"}, secure=True)
    assert response.status_code == 200
    assert len(mail_views.calls) == 1
    page = person.get(url, secure=True).content
    assert b"You are unsubscribed" in page


# Refusals ----------------------------------------------------------------------------------------


def test_forged_missing_and_revoked_links_unsubscribe_nobody():
    url = url_of(unsubscribe_headers("ada@example.com", "news"))
    forged = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    assert one_click(forged).status_code == 403
    assert one_click("/mail/unsubscribe/").status_code == 401
    _ticket, other = Ticket.objects.issue("elsewhere", "unsubscribe")
    assert one_click(f"/mail/unsubscribe/?ticket={other}").status_code == 403
    Ticket.objects.get(place="mail").revoke()
    response = one_click(url)
    assert response.status_code == 403
    assert b"revoked" in response.content
    assert mail_views.calls == []


def test_a_failing_handler_keeps_the_link_valid():
    url = url_of(unsubscribe_headers("fail@example.com", "news"))
    response = Client(raise_request_exception=False).post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 500
    assert Ticket.objects.get().status == "valid"  # the provider may retry


def test_handler_from_the_setting(settings):
    settings.TICKETOFFICE_UNSUBSCRIBE_HANDLER = "tests.mail_views.unsubscribe"
    url = url_of(unsubscribe_headers("ada@example.com", "news", url="unsubscribe-by-setting"))
    assert url.startswith("/mail/by-setting/")
    assert one_click(url).status_code == 200
    assert len(mail_views.calls) == 1


def test_no_handler_is_a_configuration_error():
    url = url_of(unsubscribe_headers("ada@example.com", "news", url="unsubscribe-by-setting"))
    with pytest.raises(ImproperlyConfigured, match="TICKETOFFICE_UNSUBSCRIBE_HANDLER"):
        one_click(url)
    assert Ticket.objects.get().status == "valid"
