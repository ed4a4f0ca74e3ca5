"""Django REST framework: tickets in the ``Authorization`` header (``pip install ...[drf]``).

Subclass :class:`TicketAuthentication` with a ``place`` and a ``purpose``::

    class DownloadTicket(TicketAuthentication):
        place, purpose = "api", "download"

Clients send ``Authorization: Ticket <token>``; the query string is never
read. A valid ticket becomes ``request.auth`` (and ``request.ticket``);
``request.user`` is Django's ``AnonymousUser`` unless :meth:`get_user` says
otherwise. :class:`HasTicket` requires a ticket (401 without one), and
:func:`consume_ticket` uses it exactly once when the view succeeds. With
drf-spectacular installed, the OpenAPI schema names the scheme.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from importlib.util import find_spec
from typing import Any, TypeVar, overload

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ... import claims
from ...exceptions import NoTicketError, TicketError
from .. import headers

__all__ = [
    "HasTicket",
    "TicketAuthentication",
    "TicketForbidden",
    "TicketServiceUnavailable",
    "consume_ticket",
    "refusal",
]

Handler = TypeVar("Handler", bound=Callable[..., Any])


class TicketForbidden(exceptions.PermissionDenied):
    """A genuine ticket that is used, revoked or expired (403)."""


class TicketServiceUnavailable(exceptions.APIException):
    """The stamp cache is down and ``TICKETOFFICE_CACHE_FAILURE`` is ``"closed"`` (503)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"


def refusal(error: TicketError) -> exceptions.APIException:
    """The DRF exception that answers ``error``: 401, 403 or 503 with ``{"detail", "code"}``."""
    answer = headers.refusal_for_error(error)
    body = answer.as_dict()
    if answer.status_code == 401:
        # DRF adds WWW-Authenticate to AuthenticationFailed and NotAuthenticated.
        if isinstance(error, NoTicketError):
            return exceptions.NotAuthenticated(body, code=answer.code)
        return exceptions.AuthenticationFailed(body, code=answer.code)
    if answer.status_code == 503:
        return TicketServiceUnavailable(body, code=answer.code)
    return TicketForbidden(body, code=answer.code)


def _django_request(request: Request | HttpRequest) -> HttpRequest:
    return getattr(request, "_request", request)


class TicketAuthentication(BaseAuthentication):
    """Authenticate with ``Authorization: Ticket <token>`` for one ``place`` and ``purpose``.

    Returns None for other schemes, so other authentication classes may try.
    """

    place: str = ""
    purpose: str = ""
    keyword: str = headers.DEFAULT_KEYWORD
    realm: str = headers.DEFAULT_REALM

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        """Return ``(user, ticket)``, None for another scheme, or raise the refusal."""
        django_request = _django_request(request)
        try:
            token = headers.token_from_header(get_authorization_header(request), self.keyword)
            if token is None:
                return None
            ticket = headers.admit_token(django_request, token, self.place, self.purpose)
        except TicketError as error:
            headers.refused(django_request, error, self.place, self.purpose)
            raise refusal(error) from None
        django_request.ticket = ticket  # type: ignore[attr-defined]
        return (self.get_user(ticket, request), ticket)

    def get_user(self, ticket: Any, request: Request) -> Any:
        """The user of a ticket-authenticated request: ``AnonymousUser`` by default.

        A ticket is not an account. Override this to return a user named by
        the ticket's data, for views that need one (and ``IsAuthenticated``).
        """
        return AnonymousUser()

    def authenticate_header(self, request: Request) -> str:
        """``WWW-Authenticate`` of a 401: ``Ticket realm="api"``."""
        return headers.www_authenticate(self.keyword, self.realm)


class HasTicket(BasePermission):
    """Allow only requests authenticated by a :class:`TicketAuthentication` (401 otherwise)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        """True for a ticket; raise NotAuthenticated (401) for anything else."""
        if isinstance(request.successful_authenticator, TicketAuthentication):
            return True
        raise refusal(NoTicketError())


def _drf_request(args: tuple[Any, ...]) -> Request:
    for arg in args[:2]:  # (request, ...) or (self, request, ...)
        if isinstance(arg, Request):
            return arg
    raise ImproperlyConfigured(
        "@consume_ticket decorates a REST framework handler: a function under @api_view, "
        "or a method (get, post, ...) of an APIView or a viewset."
    )


@overload
def consume_ticket(handler: Handler) -> Handler: ...


@overload
def consume_ticket(
    handler: None = None, *, methods: Collection[str] | None = None
) -> Callable[[Handler], Handler]: ...


def consume_ticket(
    handler: Handler | None = None, *, methods: Collection[str] | None = None
) -> Handler | Callable[[Handler], Handler]:
    """Use the request's ticket exactly once if the handler succeeds (a 2xx response).

    Decorate a function under ``@api_view`` or a handler method of an
    ``APIView`` or viewset. The ticket is claimed before the handler runs, so
    of concurrent requests only one runs it; the claim is undone if the
    handler raises, answers anything but 2xx, or its ``Response`` fails to render.
    It is settled only after the response has rendered. HEAD and OPTIONS
    never consume; ``methods`` limits consumption further. Without a ticket
    the request gets 401; a ticket used meanwhile gets 403 ``used``.
    """
    if handler is None:
        return functools.partial(consume_ticket, methods=methods)
    allowed = frozenset(m.upper() for m in methods) if methods is not None else None
    wrapped = handler

    @functools.wraps(wrapped)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = _drf_request(args)
        django_request = _django_request(request)
        if not claims.consumes(django_request, allowed):
            return wrapped(*args, **kwargs)
        authenticator = request.successful_authenticator
        if not isinstance(authenticator, TicketAuthentication):
            raise refusal(NoTicketError())
        claim = headers.ApiClaim(request.auth, request=django_request)
        try:
            return claims.run_in_claim(claim, lambda: wrapped(*args, **kwargs))
        except claims.ClaimRefused as refused:
            error = refused.error
            headers.refused(django_request, error, authenticator.place, authenticator.purpose)
            raise refusal(error) from None

    return wrapper


if find_spec("drf_spectacular") is not None:  # pragma: no branch - the test extra has it
    from . import spectacular  # noqa: F401  (registers the OpenAPI extension)
