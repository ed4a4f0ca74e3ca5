"""The how-to guides' flows, inside the project built from their files.

Each function follows one guide as a visitor, a mail provider or an API client
does, through Django's test client. Clients that collect refusals get their own
address, so that the throttle of the attempt-limits guide (which counts
refusals per address) turns away only the clients it is meant to.
"""

from __future__ import annotations

import re


def links(outbox):
    return [re.search(r"http://\S+", message.body).group(0) for message in outbox]


def without_csrf(html):
    """A page without its CSRF token (masked differently in every response)."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", html)


def other_code(code):
    return "999999" if code != "999999" else "000000"


def password_reset_with_djangos_views(Client, local, mail, Ticket):
    """Django's PasswordResetView and PasswordResetConfirmView, given TicketTokenGenerator."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.auth.views import INTERNAL_RESET_SESSION_TOKEN

    grace = get_user_model().objects.create_user("grace", "grace@example.com", "old password 1")
    web = Client()
    assert web.get("/accounts/password_reset/").status_code == 200
    for _ in range(2):  # asking twice: only the newest link works
        response = web.post("/accounts/password_reset/", {"email": "grace@example.com"})
        assert response.status_code == 302
        assert response["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 2
    first, second = (
        local(re.search(r"http://\S+/accounts/reset/\S+/", m.body).group(0)) for m in mail.outbox
    )
    assert b"The password reset link was invalid" in web.get(first).content
    response = web.get(second)  # Django keeps the token in the session and redirects
    uidb64 = second.split("/")[3]
    form = f"/accounts/reset/{uidb64}/set-password/"
    assert response.status_code == 302 and response["Location"] == form
    assert web.session[INTERNAL_RESET_SESSION_TOKEN] == second.split("/")[4]
    # A form with errors keeps the link valid.
    bad = web.post(form, {"new_password1": "a long new password", "new_password2": "other"})
    assert bad.status_code == 200 and b"password fields didn" in bad.content  # "...didn't match"
    new = {"new_password1": "a long new password", "new_password2": "a long new password"}
    response = web.post(form, new)
    assert response.status_code == 302 and response["Location"] == "/accounts/reset/done/"
    grace.refresh_from_db()
    assert grace.check_password("a long new password")
    ticket = Ticket.objects.get(place="auth", purpose="password-reset", revocation_datetime=None)
    assert ticket.status == "used"
    assert (
        timedelta(minutes=59)
        < ticket.expiry_datetime - ticket.creation_datetime
        <= timedelta(hours=1)
    )
    # Used once: the same link is refused, even once the password is changed back.
    grace.set_password("old password 1")
    grace.save()
    assert b"The password reset link was invalid" in Client().get(second).content
    mail.outbox.clear()


def password_reset(Client, local, mail, member, Ticket):
    """The hand-written reset, for something that is not a Django user's password."""
    client = Client()
    assert client.post("/reset/", {"email": "ADA@example.com"}).status_code == 200
    client.post("/reset/", {"email": "ada@example.com"})  # a second request
    assert len(mail.outbox) == 2
    first, second = links(mail.outbox)
    assert Ticket.objects.filter(place="accounts").revoked().count() == 1  # only the newest works
    assert client.get(local(first)).status_code == 403
    assert client.get(local(second)).status_code == 302
    assert client.get("/reset/confirm/").status_code == 200
    bad = {"new_password1": "x", "new_password2": "y"}
    assert client.post("/reset/confirm/", bad).status_code == 400
    assert Ticket.objects.filter(place="accounts").used().count() == 0
    good = {"new_password1": "a long new password", "new_password2": "a long new password"}
    assert client.post("/reset/confirm/", good).status_code == 200
    member.refresh_from_db()
    assert member.check_password("a long new password")
    assert client.get(local(second)).status_code == 403
    # Unknown address: the same answer, no mail, no ticket.
    tickets = Ticket.objects.count()
    assert client.post("/reset/", {"email": "nobody@example.com"}).status_code == 200
    assert len(mail.outbox) == 2 and Ticket.objects.count() == tickets
    mail.outbox.clear()


def email_confirmation(Client, local, mail, member):
    from accounts.email_confirmation import send_confirmation

    send_confirmation(member, "ada.lovelace@example.com")
    assert mail.outbox[0].to == ["ada.lovelace@example.com"]
    (link,) = links(mail.outbox)
    client = Client()
    assert client.get(local(link)).status_code == 302
    assert b"Confirm ada.lovelace@example.com?" in client.get("/email/confirm/").content
    member.refresh_from_db()
    assert member.email == "ada@example.com"  # opening the link changed nothing
    assert client.post("/email/confirm/").status_code == 200
    member.refresh_from_db()
    assert member.email == "ada.lovelace@example.com"
    assert client.get(local(link)).status_code == 403
    member.email = "ada@example.com"
    member.save(update_fields=["email"])
    mail.outbox.clear()


def sign_in_with_code(Client, local, mail, member):
    browser = Client(REMOTE_ADDR="198.51.100.1")
    assert b"Sign in with a code" in browser.get("/sign-in/").content
    assert browser.post("/sign-in/", {"email": "ADA@example.com"}).status_code == 200
    body = mail.outbox[0].body
    code = re.search(r"code is (\d{6})", body).group(1)
    link = local(re.search(r"http://\S+", body).group(0))

    # The code typed in another browser is refused: it waits in the session that asked.
    elsewhere = Client(REMOTE_ADDR="198.51.100.2")
    elsewhere.get("/sign-in/")
    refused = elsewhere.post("/sign-in/", {"code": code})
    assert refused.status_code == 403
    assert b"This code is not valid" in refused.content
    assert code.encode() not in refused.content  # never echoed

    response = browser.post("/sign-in/", {"code": code})
    assert response.status_code == 303 and response["Location"] == "/sign-in/confirm/"
    assert b"Sign in as ada?" in browser.get("/sign-in/confirm/").content
    response = browser.post("/sign-in/confirm/")
    assert response.status_code == 302 and response["Location"] == "/sign-in/done/"
    assert browser.session["_auth_user_id"] == str(member.pk)
    assert b"You are signed in as ada." in browser.get("/sign-in/done/").content
    # The link in the same mail was for the same ticket: used now.
    assert Client(REMOTE_ADDR="198.51.100.3").get(link).status_code == 403
    # No account: the same page, no mail.
    assert browser.post("/sign-in/", {"email": "nobody@example.com"}).status_code == 200
    assert len(mail.outbox) == 1
    mail.outbox.clear()


def attempt_limits(Client, mail, Ticket):
    import logging

    from accounts.attempt_limits import unlock_for_the_holder
    from django.conf import settings

    assert settings.TICKETOFFICE_MAX_ATTEMPTS == {"code": 5, "password": 10}
    alerts = []
    handler = logging.Handler()
    handler.emit = alerts.append
    logging.getLogger("accounts.security").addHandler(handler)

    browser = Client(REMOTE_ADDR="198.51.100.10")
    browser.post("/sign-in/", {"email": "ada@example.com"})
    code = re.search(r"code is (\d{6})", mail.outbox[0].body).group(1)
    wrong = [browser.post("/sign-in/", {"code": other_code(code)}) for _ in range(5)]
    assert [r.status_code for r in wrong] == [403] * 5
    ticket = Ticket.objects.get(place="accounts", purpose="sign-in", usage_datetime=None)
    assert ticket.status == "locked" and ticket.failed_attempts >= 5
    messages = [record.getMessage() for record in alerts]
    assert messages == [f"ticket {ticket.uuid} locked after too many wrong codes"], messages
    # Locked: the right code is refused too, with the same page as a wrong one.
    right = browser.post("/sign-in/", {"code": code})
    assert right.status_code == 403
    assert without_csrf(right.content) == without_csrf(wrong[-1].content)

    # Staff unlock it (after checking who asks); the count starts again.
    assert unlock_for_the_holder(ticket) is True
    assert unlock_for_the_holder(ticket) is False
    response = browser.post("/sign-in/", {"code": code})
    assert response.status_code == 303, response
    mail.outbox.clear()


def throttle(Client, local, Ticket):
    """django-ratelimit on the ticket_refused signal, in front of the sign-in views."""
    from django.contrib.auth import get_user_model

    from django_ticketoffice.links import ticket_url

    attacker = Client(REMOTE_ADDR="203.0.113.7")
    neighbour = Client(REMOTE_ADDR="203.0.113.8")
    ada = get_user_model().objects.get(username="ada")
    _ticket, token = Ticket.objects.issue("accounts", "sign-in", data={"user_id": ada.pk})
    link = local(ticket_url("sign-in-confirm", token))
    forged = link[:-2] + ("AA" if link[-2:] != "AA" else "BB")
    statuses = [attacker.get(forged).status_code for _ in range(25)]
    # 20/h: the 21st refusal goes over the limit; from then on the client is turned away.
    assert statuses == [403] * 21 + [429] * 4, statuses
    # A throttled client is turned away before any check: even a valid link.
    assert attacker.get(link).status_code == 429
    # Others are not affected.
    response = neighbour.get(link, follow=True)
    assert response.status_code == 200 and b"Sign in as ada?" in response.content

    # Asking for codes is limited per client (it sends mail): the 11th POST in an hour is refused.
    asker = Client(REMOTE_ADDR="192.0.2.9")
    statuses = [
        asker.post("/sign-in/", {"email": f"p{i}@example.com"}).status_code for i in range(11)
    ]
    assert statuses == [200] * 10 + [403], statuses
    # Wrong codes are refusals too, counted against the client.
    guesser = Client(REMOTE_ADDR="192.0.2.10")
    guesser.get("/sign-in/")
    statuses = [guesser.post("/sign-in/", {"code": "123456"}).status_code for _ in range(10)]
    assert statuses == [403] * 10


def multi_use(Client, local, Ticket):
    from reports.multi_use import share_report

    client = Client()
    url = local(share_report(42))
    left = []
    for _ in range(3):
        response = client.get(url, follow=True)
        assert response.status_code == 200 and response.content == b"report 42\n"
        assert response["Content-Disposition"] == 'attachment; filename="report-42.txt"'
        left.append(response["X-Downloads-Left"])
    assert left == ["2", "1", "0"]
    assert client.get(url).status_code == 403  # the fourth time
    assert Ticket.objects.get(place="reports", purpose="download").status == "used"

    unlimited = local(share_report(7, max_uses=None))
    for _ in range(5):
        response = Client().get(unlimited, follow=True)
        assert response.status_code == 200 and "X-Downloads-Left" not in response
    ticket = Ticket.objects.get(place="reports", purpose="download", max_uses=None)
    assert ticket.status == "valid" and ticket.uses == 5


def unsubscribe(Client, local, mail):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.exceptions import ImproperlyConfigured
    from django.test import override_settings
    from newsletter.unsubscribe import send_newsletter

    ada = get_user_model().objects.get(username="ada")
    news = Group.objects.create(name="news")
    news.user_set.add(ada)
    send_newsletter(ada, "news", "This week", "Hello")
    (message,) = mail.outbox
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert url.startswith("http://127.0.0.1:8000/unsubscribe/?ticket="), url  # DEBUG is on

    # A scanner's (or a person's) GET shows the button and changes nothing.
    page = Client().get(local(url))
    assert page.status_code == 200 and b"Stop sending news to ada@example.com?" in page.content
    assert news.user_set.filter(pk=ada.pk).exists()

    # The mail provider's POST: no cookie, no CSRF token; answered 200, never a redirect.
    provider = Client(enforce_csrf_checks=True)
    one_click = {"List-Unsubscribe": "One-Click"}
    response = provider.post(local(url), one_click)
    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    assert not news.user_set.filter(pk=ada.pk).exists()
    # A second click is still a success page, not an error.
    again = provider.post(local(url), one_click)
    assert again.status_code == 200 and b"You are unsubscribed" in again.content
    assert provider.post(local(url)[:-3] + "AAA", one_click).status_code == 403

    # In production (DEBUG off) the link must be https.
    with override_settings(DEBUG=False):
        try:
            send_newsletter(ada, "news", "Next week", "Hello")
        except ImproperlyConfigured as error:
            assert "https" in str(error)
        else:
            raise AssertionError("an http List-Unsubscribe URL was accepted with DEBUG off")
        with override_settings(TICKETOFFICE_BASE_URL="https://news.example.com"):
            send_newsletter(ada, "news", "Next week", "Hello")
    https = mail.outbox[-1].extra_headers["List-Unsubscribe"]
    assert https.startswith("<https://news.example.com/unsubscribe/?ticket="), https
    mail.outbox.clear()


def api_clients(Client):
    from api.api_clients import issue_download_token

    token = issue_download_token("report.pdf")
    header = {"HTTP_AUTHORIZATION": f"Ticket {token}"}
    client = Client()
    response = client.post("/api/download/", **header)
    assert response.status_code == 200 and response.json() == {"file": "report.pdf"}
    response = client.post("/api/download/", **header)
    assert response.status_code == 403 and response.json() == {"error": "used"}
    assert client.post("/api/download/").status_code == 401
    response = client.post("/api/download/", HTTP_AUTHORIZATION=f"Ticket {token[:-2]}xx")
    assert response.json() == {"error": "invalid"}
    assert client.get("/api/download/", **header).status_code == 405


def rest_framework(Client):
    from api.api_drf import issue_export_token

    client = Client()
    token = issue_export_token(42)
    header = {"HTTP_AUTHORIZATION": f"Ticket {token}"}
    assert client.get("/api/report/", **header).json() == {"report": 42}  # looking: not used
    # The page's curl session, byte for byte.
    response = client.post("/api/export/", **header)
    assert response.status_code == 200
    assert response.content == b'{"report":42,"status":"exported"}'
    response = client.post("/api/export/", **header)  # consumed once
    assert response.status_code == 403
    assert response.content == b'{"detail":"The ticket has already been used.","code":"used"}'
    response = client.post("/api/export/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Ticket realm="api"'
    assert response.json()["code"] == "missing"
    # The query string is never read.
    assert client.post(f"/api/export/?ticket={issue_export_token(1)}").status_code == 401
    other = issue_export_token(43)
    assert client.delete("/api/report/", HTTP_AUTHORIZATION=f"Ticket {other}").status_code == 204
    assert client.get("/api/report/", HTTP_AUTHORIZATION=f"Ticket {other}").status_code == 403
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert schema["components"]["securitySchemes"]["ticketAuth"]["scheme"] == "ticket"
    assert schema["paths"]["/api/export/"]["post"]["security"] == [{"ticketAuth": []}]


def ninja(Client):
    from api.api_ninja import issue_export_token

    client = Client()
    for path in ("/ninja/export", "/ninja/export-async"):
        token = issue_export_token(42)
        header = {"HTTP_AUTHORIZATION": f"Ticket {token}"}
        assert client.get("/ninja/report", **header).json() == {"report": 42}
        response = client.post(path, **header)
        assert response.status_code == 200
        assert response.json() == {"report": 42, "status": "exported"}
        response = client.post(path, **header)  # consumed once
        assert (response.status_code, response.json()["code"]) == (403, "used")
    response = client.post("/ninja/export")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Ticket realm="api"'
    schema = client.get("/ninja/openapi.json").json()
    assert schema["components"]["securitySchemes"]["TicketAuth"]["scheme"] == "ticket"
    assert schema["paths"]["/ninja/export"]["post"]["security"] == [{"TicketAuth": []}]
    assert client.get("/ninja/docs").status_code == 200


def audit_trail(Client, local, Ticket):
    """The audit app records what happens to a ticket; staff see it; old events are purged."""
    import io
    from datetime import timedelta

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone
    from reports.multi_use import share_report

    from django_ticketoffice.contrib.audit.models import TicketEvent

    apps = settings.INSTALLED_APPS  # the audit app after django_ticketoffice, as the page says
    assert apps.index("django_ticketoffice.contrib.audit") > apps.index("django_ticketoffice")
    url = local(share_report(1, max_uses=1))
    ticket = Ticket.objects.latest("creation_datetime")
    visitor = Client(REMOTE_ADDR="203.0.113.99")
    assert visitor.get(url, follow=True).status_code == 200
    assert visitor.get(url).status_code == 403  # a replay: refused
    forged = url[:-2] + ("AA" if url[-2:] != "AA" else "BB")
    assert visitor.get(forged).status_code == 403  # names no ticket of ours: not stored
    events = TicketEvent.objects.filter(ticket=ticket.uuid).order_by("pk")
    assert [e.kind for e in events] == ["issued", "admitted", "used", "refused"], events
    refused = events.get(kind="refused")
    assert refused.reason == "used" and refused.client_ip == "203.0.113.0/24"
    assert not TicketEvent.objects.exclude(ticket__in=Ticket.objects.values("uuid")).exists()

    get_user_model().objects.create_superuser("staff", "staff@example.com", "a long password")
    staff = Client()
    assert staff.login(username="staff", password="a long password")
    page = staff.get(f"/admin/django_ticketoffice/ticket/{ticket.pk}/change/").content.decode()
    assert "Audit trail (newest events)" in page, page[:2000]

    TicketEvent.objects.update(time=timezone.now() - timedelta(days=91))
    out = io.StringIO()
    call_command("ticketoffice_purge_events", "--older-than", "90d", stdout=out)
    assert TicketEvent.objects.count() == 0, out.getvalue()


def own_audit_log(Client):
    """accounts/audit.py: receivers connected by accounts/apps.py, logging without secrets."""
    import logging

    from api.api_clients import issue_download_token

    from django_ticketoffice.models import Ticket

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("accounts.audit")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    token = issue_download_token("report.pdf")
    Client().post("/api/download/", HTTP_AUTHORIZATION=f"Ticket {token}")
    ticket = Ticket.objects.filter(place="api").latest("creation_datetime")
    assert ticket.revoke() is False  # used tickets stay used: nothing revoked, nothing logged
    other = Ticket.objects.issue("api", "download")[0]
    assert other.revoke() is True
    messages = [record.getMessage() for record in records]
    assert f"ticket {ticket.uuid} (api/download) used from 127.0.0.1" in messages, messages
    assert f"1 ticket(s) revoked by None: {other.uuid}" in messages, messages
    assert not any(token in message for message in messages)


if __name__ == "__main__":
    from common import local, setup

    setup()
    from django.contrib.auth import get_user_model
    from django.core import mail
    from django.test import Client

    from django_ticketoffice.models import Ticket

    member = get_user_model().objects.create_user("ada", "ada@example.com", "first password 1")
    password_reset_with_djangos_views(Client, local, mail, Ticket)
    password_reset(Client, local, mail, member, Ticket)
    email_confirmation(Client, local, mail, member)
    sign_in_with_code(Client, local, mail, member)
    attempt_limits(Client, mail, Ticket)
    throttle(Client, local, Ticket)
    multi_use(Client, local, Ticket)
    unsubscribe(Client, local, mail)
    api_clients(Client)
    rest_framework(Client)
    ninja(Client)
    audit_trail(Client, local, Ticket)
    own_audit_log(Client)
    print("FLOW OK")
