"""The quick start (and README example) flow, run inside the project built from its files."""

from __future__ import annotations

if __name__ == "__main__":
    from common import csrf_token, local, setup

    setup()
    from django.test import Client
    from museum.invitations import invite

    from django_ticketoffice.models import Ticket

    link = invite("Ada")
    assert link.startswith("http://127.0.0.1:8000/visit/?ticket="), link
    guest = Client(enforce_csrf_checks=True)
    response = guest.get(local(link))
    assert response.status_code == 302 and response["Location"] == "/visit/", response
    page = guest.get("/visit/")
    assert page.status_code == 200 and "Welcome, Ada" in page.content.decode()
    assert Ticket.objects.used().count() == 0, "looking used the ticket"
    response = guest.post("/visit/", {"csrfmiddlewaretoken": csrf_token(page.content.decode())})
    assert response.status_code == 200, response
    assert "See you soon, Ada!" in response.content.decode()
    assert Ticket.objects.used().count() == 1
    again = Client().get(local(link))
    assert again.status_code == 403 and "This link has already been used" in again.content.decode()
    assert Client().get("/visit/").status_code == 401
    print("FLOW OK")
