"""Tickets behind Django's password-reset views (django_ticketoffice.contrib.auth).

Everything goes through Django's own views and templates, wired as the how-to
wires them (docs/snippets/password_reset_django.py, which includes
django.contrib.auth.urls; the admin beside it, as in the how-to's project),
starting from the email PasswordResetForm sends.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.views import INTERNAL_RESET_SESSION_TOKEN
from django.db import connection
from django.test import Client
from django.urls import include, path
from django.utils import timezone

from django_ticketoffice.contrib.auth import PasswordResetRefused, TicketTokenGenerator
from django_ticketoffice.models import Ticket

# This module is the URLconf: the how-to's module, and the admin where staff revoke links.
urlpatterns = [
    path("", include("docs.snippets.password_reset_django")),
    path("admin/", admin.site.urls),
]

pytestmark = [
    pytest.mark.urls(__name__),
    pytest.mark.filterwarnings("ignore:Django 2028 will not have a default mailer"),
]

# Django builds the email's link from the request's host: the only allowed one here.
HOST = "accounts.example.com"
OLD, NEW = "the first password 1", "a brand new password 2"
INVALID_PAGE = b"The password reset link was invalid"


@pytest.fixture
def reset_settings(settings):
    """The how-to's settings (docs/examples/howtos/mysite/settings.py), and one allowed host."""
    settings.PASSWORD_RESET_TIMEOUT = 60 * 60
    settings.ALLOWED_HOSTS = [HOST]
    return settings


@pytest.fixture
def web(reset_settings):
    return Client(HTTP_HOST=HOST)


@pytest.fixture
def ada(db):
    return get_user_model().objects.create_user("ada", "ada@example.com", OLD)


def request_link(web, email="ada@example.com", outbox=None):
    """Ask for a reset as a visitor does; return the link of the email sent."""
    response = web.post("/accounts/password_reset/", {"email": email})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    body = outbox[-1].body
    return re.search(rf"http://{re.escape(HOST)}(/accounts/reset/\S+/)", body).group(1)


def open_link(web, link):
    """Follow the link: Django checks it, keeps the token in the session, redirects."""
    response = web.get(link)
    assert response.status_code == 302, response.content[:300]
    uidb64 = link.split("/")[3]
    assert response["Location"] == f"/accounts/reset/{uidb64}/set-password/"
    assert web.session[INTERNAL_RESET_SESSION_TOKEN] == link.split("/")[4]
    return response["Location"]


def new_password(password):
    return {"new_password1": password, "new_password2": password}


def reset_ticket():
    return Ticket.objects.get(place="auth", purpose="password-reset", revocation_datetime=None)


# The whole flow ------------------------------------------------------------------------------


def test_a_link_resets_once(web, ada, mailoutbox):
    link = request_link(web, outbox=mailoutbox)
    assert mailoutbox[0].to == ["ada@example.com"]
    ticket = reset_ticket()
    assert ticket.data["user"] == str(ada.pk)
    token = link.split("/")[4]
    # A ticket token fits Django's <token> URL pattern (and reverses into it).
    assert re.fullmatch(r"[A-Za-z0-9_\-.]+", token)

    form_url = open_link(web, link)
    response = web.get(form_url)
    assert response.status_code == 200
    assert response.context["validlink"] is True

    # A bad form keeps the link valid.
    response = web.post(form_url, {"new_password1": NEW, "new_password2": "mismatch"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert reset_ticket().status == "valid"

    response = web.post(form_url, new_password(NEW))
    assert response.status_code == 302
    assert response["Location"] == "/accounts/reset/done/"
    ada.refresh_from_db()
    assert ada.check_password(NEW)
    ticket.refresh_from_db()
    assert ticket.status == "used"
    assert INTERNAL_RESET_SESSION_TOKEN not in web.session

    # The same link again, in a fresh browser: Django's "invalid link" page.
    response = Client(HTTP_HOST=HOST).get(link)
    assert response.status_code == 200
    assert INVALID_PAGE in response.content
    # Even with the old password back.
    ada.set_password(OLD)
    ada.save()
    assert INVALID_PAGE in Client(HTTP_HOST=HOST).get(link).content


def test_the_session_token_is_checked_on_every_request(web, ada, mailoutbox):
    form_url = open_link(web, request_link(web, outbox=mailoutbox))
    reset_ticket().revoke()
    response = web.get(form_url)
    assert response.context["validlink"] is False
    response = web.post(form_url, new_password(NEW))
    assert response.status_code == 200
    assert INVALID_PAGE in response.content
    ada.refresh_from_db()
    assert ada.check_password(OLD)


def test_only_the_newest_link_works(web, ada, mailoutbox):
    first = request_link(web, outbox=mailoutbox)
    second = request_link(web, outbox=mailoutbox)
    assert first != second
    assert Ticket.objects.filter(place="auth").in_status("revoked").count() == 1
    assert INVALID_PAGE in Client(HTTP_HOST=HOST).get(first).content
    open_link(Client(HTTP_HOST=HOST), second)


def test_staff_revoke_a_link_in_the_admin(web, ada, mailoutbox, admin_client):
    link = request_link(web, outbox=mailoutbox)
    ticket = reset_ticket()
    response = admin_client.post(
        "/admin/django_ticketoffice/ticket/",
        {"action": "revoke", "_selected_action": [ticket.pk], "post": "yes"},
        HTTP_HOST=HOST,
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == "revoked"
    assert INVALID_PAGE in web.get(link).content


def test_a_link_expires_after_password_reset_timeout(web, ada, mailoutbox, settings):
    link = request_link(web, outbox=mailoutbox)
    ticket = reset_ticket()
    lifetime = ticket.expiry_datetime - ticket.creation_datetime
    assert abs(lifetime - timedelta(hours=1)) < timedelta(seconds=5)
    # The timeout lowered since the link was sent applies as well.
    settings.PASSWORD_RESET_TIMEOUT = 0
    assert INVALID_PAGE in web.get(link).content
    settings.PASSWORD_RESET_TIMEOUT = 3600
    open_link(Client(HTTP_HOST=HOST), link)
    # Past its expiry, the ticket is refused.
    Ticket.objects.filter(pk=ticket.pk).update(expiry_datetime=timezone.now() - timedelta(1))
    assert INVALID_PAGE in Client(HTTP_HOST=HOST).get(link).content


@pytest.mark.parametrize("tamper", ["forged", "other user", "default generator"])
def test_invalid_links_show_djangos_page(web, ada, mailoutbox, tamper):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    link = request_link(web, outbox=mailoutbox)
    _, _, _, uidb64, token, _ = link.split("/")
    if tamper == "forged":
        link = f"/accounts/reset/{uidb64}/{token[:-4]}AAAA/"
    elif tamper == "other user":
        grace = get_user_model().objects.create_user("grace", "grace@example.com", OLD)
        link = f"/accounts/reset/{urlsafe_base64_encode(force_bytes(grace.pk))}/{token}/"
    else:
        link = f"/accounts/reset/{uidb64}/{default_token_generator.make_token(ada)}/"
    response = web.get(link)
    assert response.status_code == 200
    assert INVALID_PAGE in response.content
    assert INTERNAL_RESET_SESSION_TOKEN not in web.session
    assert reset_ticket().status == "valid"


def test_a_password_changed_otherwise_kills_the_link(web, ada, mailoutbox):
    link = request_link(web, outbox=mailoutbox)
    ada.set_password("changed elsewhere 3")
    ada.save()
    assert INVALID_PAGE in web.get(link).content


def test_unknown_address_sends_nothing(web, ada, mailoutbox):
    response = web.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mailoutbox == []
    assert Ticket.objects.count() == 0


# Exactly once, even when two submissions passed check_token together ----------------------------


def test_two_pending_resets_set_one_password(ada, reset_settings):
    generator = TicketTokenGenerator()
    token = generator.make_token(ada)
    first = get_user_model().objects.get(pk=ada.pk)
    second = get_user_model().objects.get(pk=ada.pk)
    assert generator.check_token(first, token) and generator.check_token(second, token)
    first.set_password(NEW)
    first.save()
    second.set_password("the loser's password 4")
    with pytest.raises(PasswordResetRefused) as refused:
        second.save()
    assert refused.value.error.reason == "used"
    ada.refresh_from_db()
    assert ada.check_password(NEW)
    assert not generator.check_token(get_user_model().objects.get(pk=ada.pk), token)


def test_saves_that_do_not_change_the_password_leave_the_link(ada, reset_settings):
    generator = TicketTokenGenerator()
    token = generator.make_token(ada)
    user = get_user_model().objects.get(pk=ada.pk)
    assert generator.check_token(user, token)
    user.first_name = "Ada"
    user.save()  # no set_password(): not a reset
    assert reset_ticket().status == "valid"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgres")
def test_concurrent_submissions_set_one_password(reset_settings, mailoutbox):
    ada = get_user_model().objects.create_user("ada", "ada@example.com", OLD)
    first, second = Client(HTTP_HOST=HOST), Client(HTTP_HOST=HOST)
    link = request_link(first, outbox=mailoutbox)
    form_url = open_link(first, link)
    open_link(second, link)
    barrier = threading.Barrier(2)
    statuses: dict[str, int] = {}

    def submit(name, web, password):
        try:
            barrier.wait(10)
            statuses[name] = web.post(form_url, new_password(password)).status_code
        finally:
            connection.close()

    threads = [
        threading.Thread(target=submit, args=("first", first, NEW)),
        threading.Thread(target=submit, args=("second", second, "the other password 5")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # One reset went through; the other got Django's 403 (lost the claim) or
    # the invalid-link page (checked after the first had finished).
    assert sorted(statuses.values()) in ([200, 302], [302, 403]), statuses
    ada.refresh_from_db()
    winner = NEW if statuses["first"] == 302 else "the other password 5"
    assert ada.check_password(winner)
    assert reset_ticket().status == "used"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgres")
def test_concurrent_requests_leave_one_valid_link(reset_settings):
    ada = get_user_model().objects.create_user("ada", "ada@example.com", OLD)
    generator = TicketTokenGenerator()
    barrier = threading.Barrier(8)

    def issue():
        try:
            barrier.wait(10)
            generator.make_token(get_user_model().objects.get(pk=ada.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=issue) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert generator.tickets_of(ada).count() == 8
    assert generator.tickets_of(ada).valid().count() == 1
