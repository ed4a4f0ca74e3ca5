"""Where credentials come from, and where they must not stay.

A one-link URL carries its credential in the query string: ``?ticket=<token>``,
or 0.2's ``?uuid=...&password=...``. Once read, the credential is masked in the
request (``request.GET``, the query string, the raw URI), so that Django's
error reports, logging and error trackers built on them never show it, and the
browser is sent on to the same URL without it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.http import escape_leading_slashes

from .conf import app_settings
from .tokens import Credentials, read_token
from .verification import password_credentials

PASSWORD_PARAMETERS = ("uuid", "password")
# Django's own mask (SafeExceptionReporterFilter.cleansed_substitute).
MASK = "********************"


def session_key(place: str, purpose: str) -> str:
    """Return the session key that remembers a ticket for one place and purpose."""
    return f"ticketoffice:{len(place)}:{place}:{purpose}"


def admit_into_session(request: HttpRequest, place: str, purpose: str, ticket_uuid: Any) -> None:
    """Remember a verified ticket in the request's session, under a new session key.

    The key rotates as ``django.contrib.auth.login()`` rotates it: a session id
    planted in the browser before the credential was shown never gains the ticket.
    """
    session = request.session
    if session.session_key is not None:
        session.cycle_key()
    session[session_key(place, purpose)] = str(ticket_uuid)


def credential_parameters() -> tuple[str, ...]:
    """The query-string parameters that carry credentials."""
    return (app_settings.TOKEN_PARAMETER, *PASSWORD_PARAMETERS)


def carries_credentials(request: HttpRequest) -> bool:
    """Tell whether the request's URL carries a credential parameter."""
    query = request.GET
    return any(name in query for name in credential_parameters())


def request_credentials(request: HttpRequest, place: str, purpose: str) -> Credentials | None:
    """Read credentials from the query string: ``?ticket=<token>`` or ``?uuid=&password=``.

    Returns None when the query string carries none; raises a TicketError for
    malformed ones. A token is checked here (signature, expiry, place), so a
    forgery never reaches the cache or the database.
    """
    parameter = app_settings.TOKEN_PARAMETER
    query = request.GET
    if parameter in query:
        return read_token(query[parameter], place, purpose)
    if any(name in query for name in PASSWORD_PARAMETERS):
        return password_credentials(query.get("uuid"), query.get("password"))
    return None


def clean_url(request: HttpRequest) -> str:
    """The request's path and query string without any credential parameter."""
    query = request.GET.copy()
    for name in credential_parameters():
        query.pop(name, None)
    # "//host/..." would be a protocol-relative URL: an open redirect.
    path = escape_leading_slashes(request.path)
    return f"{path}?{query.urlencode()}" if query else path


def conceal_credentials(request: HttpRequest) -> None:
    """Mask the credential parameters everywhere the request keeps its URL."""
    names = [name for name in credential_parameters() if name in request.GET]
    if not names:
        return
    query = request.GET.copy()
    for name in names:
        query.setlist(name, [MASK] * len(query.getlist(name)))
    query._mutable = False
    request.GET = query  # type: ignore[assignment]
    query_string = query.urlencode(safe="*")
    meta = request.META
    meta["QUERY_STRING"] = query_string
    # Raw request lines that WSGI servers pass on (gunicorn, uWSGI, mod_wsgi).
    for key in ("RAW_URI", "REQUEST_URI"):
        if isinstance(meta.get(key), str):
            meta[key] = f"{meta[key].partition('?')[0]}?{query_string}"
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict) and "query_string" in scope:
        scope["query_string"] = query_string.encode("ascii")
