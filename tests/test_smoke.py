import pytest
from django.urls import reverse

from django_ticketoffice.models import Ticket
from django_ticketoffice.links import ticket_url


@pytest.mark.django_db
def test_issue_and_follow_link(client, stamp_cache):
    ticket, token = Ticket.objects.issue("louvre", "visit", data={"first_name": "Léonard"})
    assert len(token) <= 100, token
    url = ticket_url("louvre", token)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("louvre")
    response = client.get(response["Location"])
    assert response.status_code == 200, response.content
    assert response.content == "Welcome to the Louvre museum Léonard".encode()
    response = client.get(url)
    assert response.status_code == 403
    assert b"already been used" in response.content
