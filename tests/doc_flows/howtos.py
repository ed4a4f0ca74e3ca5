"""The how-to guides' flows, inside the project built from their files."""

from __future__ import annotations

import re


def links(outbox):
    return [re.search(r"http://\S+", message.body).group(0) for message in outbox]


def password_reset(Client, local, mail, member, Ticket):
    client = Client()
    assert client.post("/reset/", {"email": "ADA@example.com"}).status_code == 200
    client.post("/reset/", {"email": "ada@example.com"})  # a second request
    assert len(mail.outbox) == 2
    first, second = links(mail.outbox)
    assert Ticket.objects.revoked().count() == 1  # only the newest link works
    assert client.get(local(first)).status_code == 403
    assert client.get(local(second)).status_code == 302
    assert client.get("/reset/confirm/").status_code == 200
    bad = {"new_password1": "x", "new_password2": "y"}
    assert client.post("/reset/confirm/", bad).status_code == 400
    good = {"new_password1": "a long new password", "new_password2": "a long new password"}
    assert client.post("/reset/confirm/", good).status_code == 200
    member.refresh_from_db()
    assert member.check_password("a long new password")
    assert client.get(local(second)).status_code == 403
    mail.outbox.clear()


def email_confirmation(Client, local, mail, member):
    from accounts.email_confirmation import send_confirmation

    send_confirmation(member, "ada.lovelace@example.com")
    (link,) = links(mail.outbox)
    client = Client()
    assert client.get(local(link)).status_code == 302
    assert b"Confirm ada.lovelace@example.com?" in client.get("/email/confirm/").content
    assert client.post("/email/confirm/").status_code == 200
    member.refresh_from_db()
    assert member.email == "ada.lovelace@example.com"
    assert client.get(local(link)).status_code == 403
    mail.outbox.clear()


def unsubscribe(Client, local):
    from newsletter.unsubscribe import is_unsubscribed, unsubscribe_headers

    headers = unsubscribe_headers("ada@example.com", "news")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = local(headers["List-Unsubscribe"].strip("<>"))
    assert b"Stop sending news to ada@example.com?" in Client().get(url).content
    assert not is_unsubscribed("ada@example.com", "news")
    mail_client = Client(enforce_csrf_checks=True)  # no cookie, no CSRF token
    response = mail_client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    assert is_unsubscribed("ada@example.com", "news")
    again = mail_client.post(url, {"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200 and b"You are unsubscribed" in again.content


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


def audit_log(Client):
    import logging

    from accounts import audit  # noqa: F401  (connects the receivers, as AppConfig.ready() would)
    from api.api_clients import issue_download_token

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("museum.audit").addHandler(handler)
    logging.getLogger("museum.audit").setLevel(logging.INFO)
    token = issue_download_token("report.pdf")
    Client().post("/api/download/", HTTP_AUTHORIZATION=f"Ticket {token}")
    messages = [record.getMessage() for record in records]
    assert any("(api/download) used from 127.0.0.1" in message for message in messages), messages
    assert not any(token in message for message in messages)


if __name__ == "__main__":
    from common import local, setup

    setup()
    from django.contrib.auth import get_user_model
    from django.core import mail
    from django.test import Client

    from django_ticketoffice.models import Ticket

    member = get_user_model().objects.create_user("ada", "ada@example.com", "first password 1")
    password_reset(Client, local, mail, member, Ticket)
    email_confirmation(Client, local, mail, member)
    unsubscribe(Client, local)
    api_clients(Client)
    audit_log(Client)
    print("FLOW OK")
