"""The how-tos of multi-use tickets, codes, attempt limits and the throttle recipe run here."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from django_ticketoffice.exceptions import CredentialsError
from django_ticketoffice.models import Ticket

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:Django 2028 will not have a default mailer"),
]


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@pytest.fixture
def docs_settings(settings):
    from pathlib import Path

    templates = [dict(settings.TEMPLATES[0])]
    templates[0]["DIRS"] = [Path(__file__).resolve().parent.parent / "docs/snippets/templates"]
    settings.TEMPLATES = templates
    settings.TICKETOFFICE_BASE_URL = "http://testserver"
    return settings


@pytest.mark.urls("docs.snippets.multi_use")
def test_howto_multi_use(client, docs_settings):
    from docs.snippets.multi_use import open_house_link, share_report

    url = local(share_report(42))
    downloads = []
    for _ in range(3):
        response = client.get(url, follow=True)
        assert response.status_code == 200
        downloads.append(response["X-Downloads-Left"])
        assert b"".join(response.streaming_content) == b"report 42\n"
    assert downloads == ["2", "1", "0"]
    assert client.get(url).status_code == 403
    assert Ticket.objects.get(place="reports").status == "used"
    assert "ticket=" in open_house_link()
    assert Ticket.objects.get(place="museum").max_uses is None


@pytest.mark.urls("docs.snippets.sign_in_with_code")
def test_howto_sign_in_with_code(docs_settings, mailoutbox):
    user = get_user_model().objects.create_user("ada", "ada@example.com", "pw")
    browser = Client()
    assert browser.post("/sign-in/", {"email": "ADA@example.com"}).status_code == 200
    body = mailoutbox[0].body
    code = re.search(r"code is (\d{6})", body).group(1)
    link = local(re.search(r"http://\S+", body).group(0))
    response = browser.post("/sign-in/", {"code": code})
    assert response.status_code == 303 and response["Location"] == "/sign-in/confirm/"
    assert b"Sign in as ada?" in browser.get("/sign-in/confirm/").content
    assert browser.post("/sign-in/confirm/").status_code == 302
    assert browser.session["_auth_user_id"] == str(user.pk)
    # The link in the same mail was for the same ticket: used now.
    assert Client().get(link).status_code == 403
    # No account: the same page, no mail.
    assert browser.post("/sign-in/", {"email": "nobody@example.com"}).status_code == 200
    assert len(mailoutbox) == 1


def test_howto_attempt_limits(settings, django_capture_on_commit_callbacks, caplog):
    from docs.snippets import attempt_limits

    settings.TICKETOFFICE_MAX_ATTEMPTS = attempt_limits.TICKETOFFICE_MAX_ATTEMPTS
    ticket, _token, code = Ticket.objects.issue_with_code("accounts", "sign-in")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            with pytest.raises(CredentialsError):
                Ticket.objects.verify_code(ticket.uuid, "999999" if code != "999999" else "0" * 6)
    # Wrong place and purpose above: nothing counted, nothing locked.
    ticket.refresh_from_db()
    assert not ticket.locked
    with django_capture_on_commit_callbacks(execute=True):
        wrong = "999999" if code != "999999" else "000000"
        for _ in range(5):
            with pytest.raises(CredentialsError):
                Ticket.objects.verify_code(ticket.uuid, wrong, "accounts", "sign-in")
    assert any("locked after too many wrong codes" in r.getMessage() for r in caplog.records)
    ticket.refresh_from_db()
    assert attempt_limits.unlock_for_the_holder(ticket) is True
    assert attempt_limits.unlock_for_the_holder(ticket) is False
    assert Ticket.objects.verify_code(ticket.uuid, code, "accounts", "sign-in") == ticket


@pytest.mark.urls("docs.snippets.throttle")
def test_howto_throttle(settings, redis):
    from docs.snippets import throttle

    settings.RATELIMIT_USE_CACHE = "redis"
    settings.TICKETOFFICE_CACHE = "default"
    assert throttle.count_refusal  # connected on import
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    neighbour = Client(REMOTE_ADDR="198.51.100.2")
    _ticket, token = Ticket.objects.issue("museum", "visit", data={"first_name": "Ada"})
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    statuses = [attacker.get(f"/visit/?ticket={forged}").status_code for _ in range(25)]
    # 20/h: the 21st refusal goes over the limit; from then on the client is turned away.
    assert statuses == [403] * 21 + [429] * 4
    # A throttled client is turned away before any check: even a valid link.
    assert attacker.get(f"/visit/?ticket={token}").status_code == 429
    # Others are not affected.
    response = neighbour.get(f"/visit/?ticket={token}", follow=True)
    assert response.status_code == 200 and response.content == b"Welcome Ada"

    # Codes: wrong codes count as refusals too; asking for codes is limited per client.
    asker = Client(REMOTE_ADDR="192.0.2.9")
    statuses = [
        asker.post("/sign-in/", {"email": f"p{i}@example.com"}).status_code for i in range(11)
    ]
    assert statuses == [200] * 10 + [403]
    guesser = Client(REMOTE_ADDR="192.0.2.10")
    guesser.get("/sign-in/")
    statuses = [guesser.post("/sign-in/", {"code": "123456"}).status_code for _ in range(10)]
    assert statuses == [403] * 10
