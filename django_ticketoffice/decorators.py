"""View decorators: ``@invitation_required`` admits a ticket, ``@stamp_invitation`` consumes it.

Neither keeps per-request state on the decorator (0.2 did, and two threads
could swap tickets). Both work on sync and async views. Consuming is the
job of :mod:`django_ticketoffice.claims`; this module reads credentials,
keeps them out of the address bar, the session's old key and error reports,
and answers refusals.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from . import claims
from .conf import app_settings
from .credentials import (
    admit_into_session,
    carries_credentials,
    clean_url,
    read_remembered,
    session_key,
    take_credentials,
)
from .exceptions import NoTicketError, RequestTooLongError, TicketError
from .models import Ticket
from .responses import RefusalHandler, get_refusal_handler, protect_response
from .signals import send_refused, ticket_admitted
from .tokens import Credentials
from .verification import parse_uuid, verify, verify_session

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])

# Recent Django releases refuse to redirect to URLs over 16,384 characters
# (DisallowedRedirect, a 500): refuse clearly before that, on every version.
MAX_REDIRECT_LENGTH = 16_000

__all__ = ["admit", "invitation_required", "session_key", "stamp_invitation"]


def _uuid_or_none(value: Any) -> Any:
    try:
        return parse_uuid(value) if value is not None else None
    except TicketError:
        return None


def _attach(request: HttpRequest, ticket: Ticket) -> None:
    request.ticket = ticket  # type: ignore[attr-defined]
    request.invitation = ticket  # type: ignore[attr-defined]
    cache = getattr(request, "cache", None)
    if not isinstance(cache, dict):
        cache = {}
        request.cache = cache  # type: ignore[attr-defined]
    cache["invitation"] = ticket


def _refusal(
    request: HttpRequest,
    error: TicketError,
    handler: RefusalHandler | str | None,
    place: str,
    purpose: str,
    ticket_uuid: Any = None,
) -> HttpResponse:
    send_refused(error, place=place, purpose=purpose, request=request, ticket_uuid=ticket_uuid)
    error.place, error.purpose = place, purpose  # for the page's "request a new link"
    return protect_response(get_refusal_handler(handler)(request, error))


def _remember(request: HttpRequest, place: str, purpose: str, ticket: Ticket) -> HttpResponse:
    """Move a verified credential into the session; redirect to the clean URL."""
    status = 302 if request.method in ("GET", "HEAD") else 307
    location = clean_url(request)
    # Checked first: a URL too long to redirect to must not leave a ticket behind.
    if len(location) > MAX_REDIRECT_LENGTH:
        raise RequestTooLongError(
            "The address is too long to continue: remove its extra parameters.",
            genuine=True,
            ticket_uuid=ticket.uuid,
        )
    redirect = HttpResponseRedirect(location, status=status)
    admit_into_session(request, place, purpose, ticket)
    return protect_response(redirect)


def _claim_remembered(request: HttpRequest, remembered: Any, place: str, purpose: str) -> Ticket:
    value, single_use = read_remembered(remembered)
    taking = claims.Claim(model=Ticket, ticket_uuid=parse_uuid(value), request=request)
    # On the request before the claim is taken: abandon() finds it even if
    # taking is interrupted half-way.
    setattr(request, claims.CLAIM_ATTRIBUTE, taking)
    ticket: Ticket = taking.take_remembered(place, purpose, single_use=single_use)
    return ticket


def admit(
    request: HttpRequest,
    place: str,
    purpose: str,
    *,
    refusal_handler: RefusalHandler | str | None = None,
    redirect: bool | None = None,
    claim: bool = False,
) -> HttpResponse | None:
    """Admit the request's ticket, or return the response that ends the request.

    On success the ticket is attached to the request and None is returned.
    The response is a refusal, or the redirect that moves fresh credentials
    from the URL into the session. With ``claim`` (a stamped view follows), a
    ticket remembered in the session is claimed and fetched at once.
    """
    credentials: Credentials | None = None
    remembered: Any = None
    session = getattr(request, "session", None)
    try:
        # Masked before they are checked: nothing failing meanwhile can report them.
        credentials = take_credentials(request, place, purpose)
        if credentials is not None:
            ticket = verify(credentials, place, purpose)
            ticket_admitted.send(sender=Ticket, ticket=ticket, request=request)
            if redirect is None:
                redirect = bool(app_settings.REDIRECT)
            if redirect and session is not None:
                return _remember(request, place, purpose, ticket)
        else:
            remembered = session.get(session_key(place, purpose)) if session is not None else None
            if remembered is None:
                raise NoTicketError("A ticket is required to see this page.")
            if claim:
                ticket = _claim_remembered(request, remembered, place, purpose)
            else:
                ticket = verify_session(read_remembered(remembered)[0], place, purpose)
    except TicketError as error:
        # The error's own uuid, if it names one, is read only by a listener.
        ticket_uuid = None
        if not error.names_ticket:
            if credentials is not None:
                ticket_uuid = credentials.uuid
            elif remembered is not None:
                ticket_uuid = _uuid_or_none(read_remembered(remembered)[0])
        return _refusal(request, error, refusal_handler, place, purpose, ticket_uuid)
    _attach(request, ticket)
    return None


def invitation_required(
    place: str = "",
    purpose: str = "",
    *,
    refusal_handler: RefusalHandler | str | None = None,
    redirect: bool | None = None,
) -> Callable[[ViewFunc], ViewFunc]:
    """Admit only requests that present a valid ticket for ``place`` and ``purpose``.

    Credentials come from the query string (``?ticket=<token>``, or 0.2's
    ``?uuid=...&password=...``) and are checked fully. Valid ones are then
    remembered in the session (under a new session key) and the browser is
    redirected to the same URL without them (POST with 307, so the body
    survives). Without session middleware, or with ``redirect=False`` /
    ``TICKETOFFICE_REDIRECT = False``, the view runs at once. The view finds
    the ticket as ``request.ticket``, ``request.invitation`` and
    ``request.cache['invitation']``. Credential parameters are masked in
    ``request.GET`` and the request's URL once read, so no error report shows them.

    Refusals render ``ticketoffice/401.html`` (no ticket) or
    ``ticketoffice/403.html``, or go to ``refusal_handler``.
    """

    def decorator(view: ViewFunc) -> ViewFunc:
        # A stamped view below: the follow-up request claims while it admits.
        stamped = hasattr(view, claims.CONSUMES_ATTRIBUTE)
        consuming: frozenset[str] | None = getattr(view, claims.CONSUMES_ATTRIBUTE, None)

        def claims_early(request: HttpRequest) -> bool:
            return stamped and claims.consumes(request, consuming)

        def finish(request: HttpRequest, response: HttpResponse) -> HttpResponse:
            # After the redirect the URL is clean, so same-origin referrers leak
            # nothing and keep the Origin header that CSRF checks need.
            policy = "no-referrer" if carries_credentials(request) else "same-origin"
            return protect_response(response, policy)

        def refused(request: HttpRequest, refusal: claims.ClaimRefused) -> HttpResponse:
            ticket = getattr(request, "ticket", None)
            return _refusal(
                request,
                refusal.error,
                refusal_handler,
                place,
                purpose,
                ticket.uuid if ticket is not None else None,
            )

        if iscoroutinefunction(view):

            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                try:
                    response = await claims.to_completion(
                        functools.partial(
                            admit,
                            request,
                            place,
                            purpose,
                            refusal_handler=refusal_handler,
                            redirect=redirect,
                            claim=claims_early(request),
                        )
                    )
                    if response is not None:
                        return response
                    response = await view(request, *args, **kwargs)
                except claims.ClaimRefused as refusal:
                    return await sync_to_async(refused)(request, refusal)
                finally:
                    await claims.to_completion(functools.partial(claims.abandon, request))
                return finish(request, response)

            markcoroutinefunction(async_wrapper)
            return functools.wraps(view)(async_wrapper)  # type: ignore[return-value]

        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            try:
                response = admit(
                    request,
                    place,
                    purpose,
                    refusal_handler=refusal_handler,
                    redirect=redirect,
                    claim=claims_early(request),
                )
                if response is not None:
                    return response
                response = view(request, *args, **kwargs)
            except claims.ClaimRefused as refusal:
                return refused(request, refusal)
            finally:
                claims.abandon(request)
            return finish(request, response)

        return functools.wraps(view)(wrapper)  # type: ignore[return-value]

    return decorator


@overload
def stamp_invitation(view: ViewFunc) -> ViewFunc: ...


@overload
def stamp_invitation(
    view: None = None, *, methods: Collection[str] | None = None
) -> Callable[[ViewFunc], ViewFunc]: ...


def stamp_invitation(
    view: ViewFunc | None = None, *, methods: Collection[str] | None = None
) -> ViewFunc | Callable[[ViewFunc], ViewFunc]:
    """Consume the request's ticket if the view succeeds (a response below 400).

    Place it under ``@invitation_required``. The ticket is claimed atomically
    before the view runs, so two concurrent requests never both succeed; the
    claim is undone if the view raises, answers 400 or more, or its lazy
    response fails to render. HEAD and OPTIONS never consume a ticket.
    ``methods`` (e.g. ``["POST"]``) limits consumption further, so a GET can
    show a confirmation page that link scanners cannot burn.
    """
    if view is None:
        return functools.partial(stamp_invitation, methods=methods)
    allowed = frozenset(m.upper() for m in methods) if methods is not None else None
    if allowed is not None and allowed & claims.NEVER_CONSUMING_METHODS:
        raise ImproperlyConfigured(
            f"@stamp_invitation(methods={sorted(allowed)}): "
            f"{', '.join(sorted(allowed & claims.NEVER_CONSUMING_METHODS))} never consume a "
            "ticket (link checkers send them)."
        )
    wrapped = view

    if iscoroutinefunction(wrapped):

        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not claims.consumes(request, allowed):
                return await wrapped(request, *args, **kwargs)
            return await claims.run_async_view(wrapped, request, *args, **kwargs)

        markcoroutinefunction(async_wrapper)
        setattr(async_wrapper, claims.CONSUMES_ATTRIBUTE, allowed)
        return functools.wraps(wrapped)(async_wrapper)  # type: ignore[return-value]

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not claims.consumes(request, allowed):
            return wrapped(request, *args, **kwargs)
        return claims.run_view(wrapped, request, *args, **kwargs)

    setattr(wrapper, claims.CONSUMES_ATTRIBUTE, allowed)
    return functools.wraps(wrapped)(wrapper)  # type: ignore[return-value]
