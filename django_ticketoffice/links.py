"""Building one-link URLs for tickets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from .conf import app_settings


def ticket_url(
    viewname_or_path: str,
    token: str,
    *,
    request: HttpRequest | None = None,
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
) -> str:
    """Return the one-link URL that presents ``token`` to a view.

    ``viewname_or_path`` is a URL name (reversed with ``args``/``kwargs``) or a
    path starting with ``/``. The URL is absolute when ``TICKETOFFICE_BASE_URL``
    is set (preferred: it does not trust the Host header) or a ``request`` is
    given; otherwise it is a path.
    """
    if viewname_or_path.startswith("/"):
        path = viewname_or_path
    else:
        try:
            path = reverse(viewname_or_path, args=args, kwargs=kwargs)
        except NoReverseMatch:
            if "/" not in viewname_or_path:
                raise
            path = "/" + viewname_or_path
    scheme, netloc, path_only, query, fragment = urlsplit(path)
    parameter = urlencode({app_settings.TOKEN_PARAMETER: token})
    query = f"{query}&{parameter}" if query else parameter
    url = urlunsplit((scheme, netloc, path_only, query, fragment))
    base_url = app_settings.BASE_URL
    if base_url:
        # "./": a first segment such as "room:12" must not read as a URL scheme.
        return urljoin(base_url.rstrip("/") + "/", "./" + url.lstrip("/"))
    if request is not None:
        return request.build_absolute_uri(url)
    return url
