"""The refusal pages: our static pages are rendered once, overrides render normally."""

from __future__ import annotations

import pytest

from django_ticketoffice import views
from django_ticketoffice.exceptions import CredentialsError, NoTicketError, TicketUsedError


@pytest.fixture(autouse=True)
def _empty_page_cache():
    views._pages.clear()
    yield
    views._pages.clear()


def test_own_pages_are_rendered_once_per_reason(rf):
    first = views.refuse(rf.get("/"), TicketUsedError(genuine=True))
    assert first.status_code == 403
    assert b'data-reason="used"' in first.content
    assert list(views._pages) == [("ticketoffice/403.html", "used", "en-us")]
    second = views.refuse(rf.get("/"), TicketUsedError(genuine=True))
    assert second.content == first.content
    forged = views.refuse(rf.get("/"), TicketUsedError(genuine=False))
    assert b'data-reason="invalid"' in forged.content
    missing = views.refuse(rf.get("/"), NoTicketError())
    assert missing.status_code == 401
    assert len(views._pages) == 3


def test_cached_page_served_without_template_rendering(client):
    client.get("/peek/")  # renders and caches the 401 page
    response = client.get("/peek/")
    assert response.status_code == 401
    assert response.templates == []
    assert response.content == views._pages[("ticketoffice/401.html", "missing", "en-us")]


def test_debug_renders_every_time(rf, settings):
    settings.DEBUG = True
    response = views.refuse(rf.get("/"), CredentialsError())
    assert response.status_code == 403
    assert response.template_name == "ticketoffice/403.html"
    assert views._pages == {}


def test_overridden_template_gets_the_request_context(client, settings, tmp_path):
    (tmp_path / "ticketoffice").mkdir()
    (tmp_path / "ticketoffice" / "403.html").write_text(
        "custom {{ reason }} for {{ request.method }}"
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]},
    ]
    first = client.post("/peek/?ticket=forged")
    second = client.post("/peek/?ticket=forged")
    for response in (first, second):
        assert response.status_code == 403
        assert response.content == b"custom invalid for POST"
        assert "ticketoffice/403.html" in [t.name for t in response.templates]
    assert views._pages == {}


def test_overridden_base_template_is_not_cached(client, settings, tmp_path):
    (tmp_path / "ticketoffice").mkdir()
    (tmp_path / "ticketoffice" / "base.html").write_text(
        "site chrome for {{ request.method }}: {% block content %}{% endblock %}"
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]},
    ]
    for _ in range(2):
        response = client.post("/peek/?ticket=forged")
        assert response.status_code == 403
        assert response.content.startswith(b"site chrome for POST: ")
        assert b'data-reason="invalid"' in response.content
    assert views._pages == {}


def test_protect_response_overrides_weaker_cache_headers(rf):
    from django.http import HttpResponse

    response = HttpResponse("x", headers={"Cache-Control": "public, max-age=3600"})
    views.protect_response(response)
    assert "no-store" in response["Cache-Control"]
    assert "public" not in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"
