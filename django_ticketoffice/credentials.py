"""Where credentials come from, and where they must not stay.

A one-link URL carries its credential in the query string: ``?ticket=<token>``,
or 0.2's ``?uuid=...&password=...``. Once read, the credential is masked in the
request (``request.GET``, the query string, the raw URI), so that Django's
error reports, logging and error trackers built on them never show it, and the
browser is sent on to the same URL without it.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import unquote_plus

from django.http import HttpRequest, QueryDict
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


# A remembered multi-use ticket is marked, so that the request that follows
# knows, before any I/O, which claim to take (see claims.Claim.take_remembered).
MULTI_USE_MARK = "+"


def admit_into_session(request: HttpRequest, place: str, purpose: str, ticket: Any) -> None:
    """Remember a verified ticket in the request's session, under a new session key.

    The key rotates as ``django.contrib.auth.login()`` rotates it: a session id
    planted in the browser before the credential was shown never gains the ticket.
    """
    session = request.session
    if session.session_key is not None:
        session.cycle_key()
    mark = "" if getattr(ticket, "max_uses", 1) == 1 else MULTI_USE_MARK
    session[session_key(place, purpose)] = f"{ticket.uuid}{mark}"


def read_remembered(value: Any) -> tuple[Any, bool]:
    """Split a remembered session value into the ticket's uuid and "single use"."""
    if isinstance(value, str) and value.endswith(MULTI_USE_MARK):
        return value[: -len(MULTI_USE_MARK)], False
    return value, True


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


def _masked_query_string(query_string: str, names: list[str]) -> str:
    """``query_string`` with the values of ``names`` masked, every other byte as sent."""
    pairs = query_string.split("&")
    for index, pair in enumerate(pairs):
        name, equals, _value = pair.partition("=")
        if unquote_plus(name) in names:
            pairs[index] = f"{name}={MASK}" if equals else pair
    return "&".join(pairs)


def conceal_credentials(request: HttpRequest) -> None:
    """Mask the credential parameters everywhere the request keeps its URL."""
    query = cast(QueryDict, request.GET)
    names = [name for name in credential_parameters() if name in query]
    if not names:
        return
    # In place: this request's own, freshly parsed query (no copy on the refusal path).
    query._mutable = True
    for name in names:
        query.setlist(name, [MASK] * len(query.getlist(name)))
    query._mutable = False
    meta = request.META
    query_string = _masked_query_string(meta.get("QUERY_STRING", ""), names)
    meta["QUERY_STRING"] = query_string
    # Raw request lines that WSGI servers pass on (gunicorn, uWSGI, mod_wsgi).
    for key in ("RAW_URI", "REQUEST_URI"):
        if isinstance(meta.get(key), str):
            meta[key] = f"{meta[key].partition('?')[0]}?{query_string}"
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict) and "query_string" in scope:
        scope["query_string"] = query_string.encode("ascii")
