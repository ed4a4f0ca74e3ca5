"""The tutorial's flow, step by step, inside the project built from its files."""

from __future__ import annotations

if __name__ == "__main__":
    import re

    from common import csrf_token, local, setup

    setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from museum.invitations import cancel_invitations, invite

    from django_ticketoffice.models import Ticket

    # 1-4: issue, admit, look at the gallery, use once.
    link = invite("Ada")
    assert link.startswith("http://127.0.0.1:8000/museum/visit/?ticket="), link
    guest = Client(enforce_csrf_checks=True)
    response = guest.get(local(link))
    assert response.status_code == 302 and response["Location"] == "/museum/visit/"
    page = guest.get("/museum/visit/")
    assert page.status_code == 200 and "Welcome Ada" in page.content.decode()
    gallery = guest.get("/museum/gallery/")
    assert gallery.status_code == 200 and "The gallery, for Ada" in gallery.content.decode()
    assert Ticket.objects.used().count() == 0
    token = csrf_token(page.content.decode())
    confirmed = guest.post("/museum/visit/", {"csrfmiddlewaretoken": token})
    assert confirmed.status_code == 200
    assert "Your visit is confirmed, Ada" in confirmed.content.decode()
    assert Ticket.objects.used().count() == 1

    # 5: refusals, with the way to ask for a new link.
    replay = Client().get(local(link))
    html = replay.content.decode()
    assert replay.status_code == 403 and "This link has already been used" in html
    assert '<a href="/museum/ask/">Request a new link</a>' in html, html
    assert "Need a new invitation?" in Client().get("/museum/ask/").content.decode()
    assert Client().get("/museum/visit/").status_code == 401

    # 6: staff issue, revoke and re-issue in the admin.
    get_user_model().objects.create_superuser("staff", "staff@example.com", "a long password")
    staff = Client()
    assert staff.login(username="staff", password="a long password")
    add = staff.get("/admin/django_ticketoffice/ticket/add/").content.decode()
    assert '<option value="museum:visit">museum / visit</option>' in add
    issued = staff.post(
        "/admin/django_ticketoffice/ticket/add/",
        {"target": "museum:visit", "data": '{"first_name": "Grace"}'},
    )
    assert issued.status_code == 200
    html = issued.content.decode()
    url = re.search(r'<a id="ticketoffice-url" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert url.startswith("http://127.0.0.1:8000/museum/visit/?ticket="), url
    grace = Ticket.objects.get(data__first_name="Grace")
    lifetime = grace.expiry_datetime - grace.creation_datetime
    assert abs(lifetime.total_seconds() - 7 * 86400) < 60, lifetime
    visitor = Client()
    assert visitor.get(local(url)).status_code == 302
    assert "Welcome Grace" in visitor.get("/museum/visit/").content.decode()
    revoke = f"/admin/django_ticketoffice/ticket/{grace.pk}/revoke/"
    assert "Revoke 1 ticket?" in staff.get(revoke).content.decode()
    assert staff.post(revoke, {"post": "yes"}).status_code == 302
    assert Client().get(local(url)).status_code == 403
    reissue = f"/admin/django_ticketoffice/ticket/{grace.pk}/reissue/"
    page = staff.post(reissue, {"post": "yes"}).content.decode()
    new_url = re.search(r'<a id="ticketoffice-url" href="([^"]+)"', page).group(1)
    assert Client().get(local(new_url.replace("&amp;", "&"))).status_code == 302

    # 7: revoke from code.
    link = invite("Alan")
    assert cancel_invitations("Alan") == 1
    response = Client().get(local(link))
    assert response.status_code == 403 and "This link has been revoked" in response.content.decode()
    print("FLOW OK")
