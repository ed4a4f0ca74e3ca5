"""Building one-link URLs for tickets, and the "request a new link" URL of refusal pages."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.urls import NoReverseMatch, get_script_prefix, reverse

from .conf import app_settings

logger = logging.getLogger("django_ticketoffice.links")


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


# (place, purpose, script prefix) -> URL or None: refusals are hot, reverse() is not free.
_new_link_urls: dict[tuple[str, str, str], str | None] = {}


def new_link_url(place: str, purpose: str) -> str | None:
    """Where a visitor whose link expired, was used or was revoked asks for a new one.

    ``TICKETOFFICE_NEW_LINK_URLS`` is one URL for every ticket, or a dict of
    ``"place:purpose"`` keys with ``"*"`` for the others. A value is a URL
    name, a path, or an absolute URL. None when nothing is configured (or
    the name does not resolve: that is logged, never an error page).
    """
    setting = app_settings.NEW_LINK_URLS
    if not setting:
        return None
    key = (place, purpose, get_script_prefix())
    try:
        return _new_link_urls[key]
    except KeyError:
        pass
    if isinstance(setting, dict):
        value = setting.get(f"{place}:{purpose}", setting.get("*"))
    else:
        value = setting
    url: str | None = None
    if isinstance(value, str) and value:
        if value.startswith(("/", "https://", "http://")):
            url = value
        else:
            try:
                url = reverse(value)
            except NoReverseMatch:
                logger.warning(
                    "TICKETOFFICE_NEW_LINK_URLS: %r is not a URL name; no link is shown.", value
                )
    _new_link_urls[key] = url
    return url


@receiver(setting_changed)
def _forget_new_link_urls(*, setting: str, **kwargs: object) -> None:
    if setting in {"TICKETOFFICE_NEW_LINK_URLS", "ROOT_URLCONF"}:
        _new_link_urls.clear()
