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

from django.conf import settings
from django.http import HttpRequest, QueryDict
from django.utils.functional import cached_property
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


def _pending_query_string(request: HttpRequest) -> str | None:
    """The raw query string while ``request.GET`` is still unparsed, else None.

    Django parses ``request.GET`` lazily from ``META["QUERY_STRING"]`` (WSGI
    and ASGI requests). While it is unparsed, the few credential parameters are
    read straight from the string, and masked there before anyone parses it:
    a refusal costs no full parse, and every later reader of ``request.GET``
    sees the mask. Otherwise (parsed already, a plain ``HttpRequest``, bytes
    beyond ASCII, too many fields) ``request.GET`` itself is read, as Django
    parses it.
    """
    if "GET" in vars(request) or not _parses_get_lazily(type(request)):
        return None
    query_string = request.META.get("QUERY_STRING", "")
    if not isinstance(query_string, str) or not query_string.isascii():
        return None
    separators = query_string.count("&")
    if separators:  # one field never exceeds a (sane) limit
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        if limit is not None and separators >= limit:
            return None  # Django's parse refuses it (TooManyFieldsSent): let it
    return query_string


_lazy_get: dict[type, bool] = {}


def _parses_get_lazily(request_class: type) -> bool:
    try:
        return _lazy_get[request_class]
    except KeyError:
        lazy = _lazy_get[request_class] = isinstance(
            getattr(request_class, "GET", None), cached_property
        )
        return lazy


def _scan(
    query_string: str, names: tuple[str, ...], encoding: str | None
) -> tuple[dict[str, str], str]:
    """Read ``names`` in a raw query string, as Django's parse would, and mask them.

    Returns each name found with its last value (as ``request.GET[name]``), and
    the query string with their values masked, every other byte as sent.
    """
    found: dict[str, str] = {}
    if not query_string:
        return found, query_string
    # The charset matters only for escapes: settings are not read for a plain token.
    escaped = "%" in query_string or "+" in query_string
    charset = (encoding or settings.DEFAULT_CHARSET) if escaped else "utf-8"
    pairs = query_string.split("&")
    for index, pair in enumerate(pairs):
        raw_name, equals, value = pair.partition("=")
        name = unquote_plus(raw_name, charset) if "%" in raw_name or "+" in raw_name else raw_name
        if name in names:
            found[name] = unquote_plus(value, charset) if "%" in value or "+" in value else value
            if equals:
                pairs[index] = f"{raw_name}={MASK}"
    return found, "&".join(pairs) if found else query_string


def _write_masked(request: HttpRequest, masked: str) -> None:
    """Put the masked query string everywhere the request keeps its URL."""
    meta = request.META
    meta["QUERY_STRING"] = masked
    # Raw request lines that WSGI servers pass on (gunicorn, uWSGI, mod_wsgi).
    for key in ("RAW_URI", "REQUEST_URI"):
        if isinstance(meta.get(key), str):
            meta[key] = f"{meta[key].partition('?')[0]}?{masked}"
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict) and "query_string" in scope:
        # ASGIRequest decodes the scope's bytes as UTF-8: the inverse.
        scope["query_string"] = masked.encode("utf-8")


def _take_values(request: HttpRequest, *, conceal: bool) -> dict[str, str]:
    """The credential parameters of the request's URL, masked there with ``conceal``."""
    names = credential_parameters()
    query_string = _pending_query_string(request)
    if query_string is not None:
        values, masked = _scan(query_string, names, request.encoding)
        if conceal and masked is not query_string:
            # request.GET is not parsed yet: it will be parsed from the mask.
            _write_masked(request, masked)
        return values
    query = cast(QueryDict, request.GET)
    values = {name: cast(str, query[name]) for name in names if name in query}
    if conceal and values:
        # In place: this request's own parsed query (no copy on the refusal path).
        query._mutable = True
        for name in values:
            query.setlist(name, [MASK] * len(query.getlist(name)))
        query._mutable = False
        query_string = request.META.get("QUERY_STRING", "")
        masked = _scan(query_string, names, "utf-8")[1]
        if masked is not query_string:
            _write_masked(request, masked)
    return values


def _read(values: dict[str, str], place: str, purpose: str) -> Credentials | None:
    parameter = app_settings.TOKEN_PARAMETER
    if parameter in values:
        return read_token(values[parameter], place, purpose)
    if any(name in values for name in PASSWORD_PARAMETERS):
        return password_credentials(values.get("uuid"), values.get("password"))
    return None


def carries_credentials(request: HttpRequest) -> bool:
    """Tell whether the request's URL carries a credential parameter."""
    return bool(_take_values(request, conceal=False))


def request_credentials(request: HttpRequest, place: str, purpose: str) -> Credentials | None:
    """Read credentials from the query string: ``?ticket=<token>`` or ``?uuid=&password=``.

    Returns None when the query string carries none; raises a TicketError for
    malformed ones. A token is checked here (signature, expiry, place), so a
    forgery never reaches the cache or the database.
    """
    return _read(_take_values(request, conceal=False), place, purpose)


def take_credentials(request: HttpRequest, place: str, purpose: str) -> Credentials | None:
    """Read credentials as :func:`request_credentials` does, masking them first.

    One pass over the query string; the mask is in place before the
    credentials are checked, so that nothing failing meanwhile can report them.
    """
    return _read(_take_values(request, conceal=True), place, purpose)


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
    _take_values(request, conceal=True)
