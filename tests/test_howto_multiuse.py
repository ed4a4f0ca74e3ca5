"""The attempt-limit and throttle recipes of the how-tos, against real Redis (and PostgreSQL in CI).

The how-tos' flows as a reader follows them (multi-use links, sign in with a
code, locking, the throttle) run in the project that tests/test_doc_projects.py
builds from their files; here the same modules run in-process, with the
django-ratelimit counters in Redis, as a deployment with several processes has them.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from django_ticketoffice.exceptions import CredentialsError
from django_ticketoffice.models import Ticket

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:Django 2028 will not have a default mailer"),
]


@pytest.fixture
def docs_settings(settings):
    from pathlib import Path

    templates = [dict(settings.TEMPLATES[0])]
    templates[0]["DIRS"] = [Path(__file__).resolve().parent.parent / "docs/snippets/templates"]
    settings.TEMPLATES = templates
    settings.TICKETOFFICE_BASE_URL = "http://testserver"
    return settings


def test_howto_attempt_limits(settings, django_capture_on_commit_callbacks, caplog):
    from docs.snippets import attempt_limits

    settings.TICKETOFFICE_MAX_ATTEMPTS = {"code": 5, "password": 10}  # as the how-to's settings
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
def test_howto_throttle(docs_settings, redis, mailoutbox):
    from docs.snippets import throttle

    docs_settings.RATELIMIT_USE_CACHE = "redis"
    docs_settings.TICKETOFFICE_CACHE = "default"
    assert throttle.count_refusal  # connected on import
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    neighbour = Client(REMOTE_ADDR="198.51.100.2")
    ada = get_user_model().objects.create_user("ada", "ada@example.com", "pw")
    _ticket, token = Ticket.objects.issue("accounts", "sign-in", data={"user_id": ada.pk})
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    link = f"/sign-in/confirm/?ticket={token}"
    statuses = [attacker.get(f"/sign-in/confirm/?ticket={forged}").status_code for _ in range(25)]
    # 20/h: the 21st refusal goes over the limit; from then on the client is turned away.
    assert statuses == [403] * 21 + [429] * 4
    # A throttled client is turned away before any check: even a valid link.
    assert attacker.get(link).status_code == 429
    # Others are not affected.
    response = neighbour.get(link, follow=True)
    assert response.status_code == 200 and b"Sign in as ada?" in response.content

    # Codes: wrong codes count as refusals too; asking for codes is limited per client.
    asker = Client(REMOTE_ADDR="192.0.2.9")
    statuses = [
        asker.post("/sign-in/", {"email": f"p{i}@example.com"}).status_code for i in range(11)
    ]
    assert statuses == [200] * 10 + [403]
    guesser = Client(REMOTE_ADDR="192.0.2.10")
    guesser.post("/sign-in/", {"email": "ada@example.com"})
    code = re.search(r"code is (\d{6})", mailoutbox[-1].body).group(1)
    wrong = "999999" if code != "999999" else "000000"
    answers = [guesser.post("/sign-in/", {"code": wrong}) for _ in range(10)]
    # The email and nine codes fill django-ratelimit's 10 POSTs an hour: each code is
    # refused on the code form (the ticket locks after five); the next POST is blocked
    # before the form (django-ratelimit's 403).
    assert [a.status_code for a in answers] == [403] * 10
    assert all(b"This code is not valid" in a.content for a in answers[:9])
    assert b"This code is not valid" not in answers[9].content
