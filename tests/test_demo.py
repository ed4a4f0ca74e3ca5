"""The demo site ("the museum") through the Django test client, and its setup command."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from demo import settings as demo_settings
from demo.office import issue_invitation, issue_password_reset
from django_ticketoffice.models import Ticket

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.urls("demo.urls"),
    pytest.mark.django_db,
    # Django 6.1 asks for a MAILERS setting, which tests/settings.py leaves out on purpose.
    pytest.mark.filterwarnings("ignore:Django 2028 will not have a default mailer"),
]


@pytest.fixture(autouse=True)
def demo(settings):
    """Serve the demo's templates and ticket settings on top of the test settings."""
    settings.TEMPLATES = demo_settings.TEMPLATES
    settings.TICKETOFFICE_URLS = demo_settings.TICKETOFFICE_URLS
    settings.TICKETOFFICE_BASE_URL = "http://testserver"
    settings.AUTH_PASSWORD_VALIDATORS = demo_settings.AUTH_PASSWORD_VALIDATORS


def local(url: str) -> str:
    """The path and query of an absolute one-link URL, for the test client."""
    parts = urlsplit(url)
    assert parts.netloc == "testserver", url
    return f"{parts.path}?{parts.query}"


def test_home_page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Welcome to the museum" in response.content


def test_invitation_end_to_end(
    client, django_capture_on_commit_callbacks, django_assert_num_queries
):
    link = local(issue_invitation("Grace"))
    assert link.startswith("/visit/?ticket=")
    ticket = Ticket.objects.get(place="museum", purpose="visit")

    response = client.get(link)
    assert response.status_code == 302
    assert response["Location"] == "/visit/"  # the credential leaves the address bar

    response = client.get("/visit/")
    assert response.status_code == 200
    assert b"Welcome Grace" in response.content
    assert b"Confirm my visit" in response.content
    # same-origin on the clean URL: the confirm POST needs a real Origin for CSRF.
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
    # Looking at the invitation (as a link scanner would) does not use it.
    assert client.head("/visit/").status_code == 200
    ticket.refresh_from_db()
    assert ticket.usage_datetime is None

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/visit/")
    assert response.status_code == 200
    assert b"Your visit is confirmed" in response.content
    assert len(callbacks) == 1  # the stamp and ticket_used, after commit
    ticket.refresh_from_db()
    assert ticket.usage_datetime is not None

    # Replayed: the local-memory stamp refuses it without touching the database.
    with django_assert_num_queries(0):
        response = client.get(link)
    assert response.status_code == 403
    assert b'data-reason="used"' in response.content
    assert b"This link has already been used" in response.content
    assert b"THE MUSEUM" in response.content  # the demo's styled page, not the library's

    # The session remembers the ticket, which is now used: a second POST is refused.
    response = client.post("/visit/")
    assert response.status_code == 403
    assert b'data-reason="used"' in response.content


def test_visit_without_ticket(client):
    response = client.get("/visit/")
    assert response.status_code == 401
    assert b"A ticket is required" in response.content
    assert b"THE MUSEUM" in response.content


@pytest.mark.parametrize("method", ["get", "post"])
def test_tampered_link(client, method):
    link = local(issue_invitation("Mallory"))
    response = getattr(client, method)(link[:-2] + ("AA" if not link.endswith("AA") else "BB"))
    assert response.status_code == 403
    assert b'data-reason="invalid"' in response.content
    assert Ticket.objects.used().count() == 0


def test_revoked_link(client):
    link = local(issue_invitation("Eve"))
    assert Ticket.objects.get().revoke() is True
    response = client.get(link)
    assert response.status_code == 403
    assert b'data-reason="revoked"' in response.content


def test_expired_link(client):
    link = local(issue_invitation("Rip"))
    Ticket.objects.update(expiry_datetime=timezone.now() - timedelta(minutes=1))
    response = client.get(link)
    assert response.status_code == 403
    assert b'data-reason="expired"' in response.content


@pytest.fixture
def visitor():
    user_model = get_user_model()
    return user_model.objects.create_user("visitor", "visitor@example.com", "old password 1")


def test_password_reset_flow(client, visitor, mailoutbox):
    response = client.post("/accounts/reset/", {"username": "visitor"})
    assert response.status_code == 200
    assert response["Referrer-Policy"] == "no-referrer"
    ticket = Ticket.objects.get(place="accounts", purpose="password-reset")
    assert ticket.data == {"user_id": visitor.pk}
    assert ticket.expiry_datetime is not None
    assert len(mailoutbox) == 1
    absolute = response.context["link"]
    assert absolute in mailoutbox[0].body
    link = local(absolute)

    response = client.get(link)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/reset/confirm/"
    response = client.get("/accounts/reset/confirm/")
    assert response.status_code == 200
    assert b"Choose a new password" in response.content

    # A rejected form answers 400, which releases the claim: the link still works.
    response = client.post(
        "/accounts/reset/confirm/",
        {"new_password1": "a museum at night", "new_password2": "a different one"},
    )
    assert response.status_code == 400
    ticket.refresh_from_db()
    assert ticket.usage_datetime is None

    response = client.post(
        "/accounts/reset/confirm/",
        {"new_password1": "a museum at night", "new_password2": "a museum at night"},
    )
    assert response.status_code == 200
    assert b"Your password has been changed" in response.content
    visitor.refresh_from_db()
    assert visitor.check_password("a museum at night")
    ticket.refresh_from_db()
    assert ticket.usage_datetime is not None

    response = client.get(link)
    assert response.status_code == 403
    assert b'data-reason="used"' in response.content


def test_password_reset_new_link_revokes_older(client, visitor):
    first = local(issue_password_reset(visitor))
    second = local(issue_password_reset(visitor))
    assert Ticket.objects.revoked().count() == 1
    assert client.get(first).status_code == 403
    assert client.get(second).status_code == 302


def test_password_reset_unknown_user(client, mailoutbox):
    response = client.post("/accounts/reset/", {"username": "nobody"})
    assert response.status_code == 200
    assert b"If an account with this username exists" in response.content
    assert response.context["link"] is None
    assert Ticket.objects.count() == 0
    assert mailoutbox == []


def _demo_env(tmp_path: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "DEMO_BASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    env["DEMO_ADMIN_PASSWORD"] = "demo-password-42"
    return env


@pytest.mark.django_db(False)
def test_demo_command_help():
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--no-serve" in result.stdout
    assert "--port" in result.stdout


@pytest.mark.django_db(False)
def test_demo_command_sets_up_everything(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--no-serve", "--port", "8123", "--guest", "Ada"],
        cwd=ROOT,
        env=_demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "password:        demo-password-42" in result.stdout
    assert "http://127.0.0.1:8123/admin/" in result.stdout
    assert "invitation for Ada: http://127.0.0.1:8123/visit/?ticket=" in result.stdout
    with sqlite3.connect(tmp_path / "demo.sqlite3") as connection:
        tickets = connection.execute(
            "SELECT place, purpose, data, usage_datetime FROM django_ticketoffice_ticket"
        ).fetchall()
        admins = connection.execute(
            "SELECT username FROM auth_user WHERE is_superuser AND is_staff"
        ).fetchall()
    assert tickets == [("museum", "visit", '{"first_name": "Ada"}', None)]
    assert admins == [("admin",)]


@pytest.mark.django_db(False)
def test_demo_command_on_a_busy_port_sets_up_nothing(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "demo", "--port", str(port)],
            cwd=ROOT,
            env=_demo_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "python -m demo --port " in result.stderr
    # Checked first: no database, no admin password, no invitation, no credentials printed.
    assert not (tmp_path / "demo.sqlite3").exists()
    assert "password" not in result.stdout + result.stderr
    assert "ticket=" not in result.stdout + result.stderr


def test_sign_in_with_a_code_or_the_link(client, mailoutbox):
    import re

    from django.test import Client

    user = get_user_model().objects.create_user("ada", "ada@example.com", "pw")
    assert b'name="email"' in client.get("/accounts/sign-in/").content
    response = client.post("/accounts/sign-in/", {"email": "ada@example.com"})
    assert response.status_code == 200
    code = re.search(rb'id="demo-code">(\d{6})<', response.content).group(1).decode()
    assert code in mailoutbox[0].body
    link = local(re.search(r"http://\S+", mailoutbox[0].body).group(0))
    # Another browser with the code: refused, and it learns nothing.
    assert Client().post("/accounts/sign-in/", {"code": code}).status_code == 403
    response = client.post("/accounts/sign-in/", {"code": code})
    assert response.status_code == 303
    assert client.get(response["Location"]).content.count(b"Sign in as ada?") == 1
    response = client.post("/accounts/sign-in/confirm/")
    assert b"Signed in as ada" in response.content
    assert client.session["_auth_user_id"] == str(user.pk)
    # Whichever came first consumed the ticket: the link is used now.
    assert Client().get(link).status_code == 403
    # An unknown address: the same page, no mail.
    unknown = Client().post("/accounts/sign-in/", {"email": "nobody@example.com"})
    assert unknown.status_code == 200 and b"Enter your code" in unknown.content
    assert len(mailoutbox) == 1
