"""View decorators: ``@invitation_required`` admits a ticket, ``@stamp_invitation`` consumes it.

Neither keeps per-request state on the decorator (0.2 did, and two threads
could swap tickets). Both work on sync and async views.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Collection
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import escape_leading_slashes

from .conf import app_settings
from .exceptions import NoTicketError, TicketError, TicketUsedError
from .models import Ticket, on_ticket_commit
from .signals import ticket_refused
from .stamps import get_store
from .tokens import Credentials, read_token
from .verification import parse_uuid, password_credentials, verify, verify_session
from .views import RefusalHandler, get_refusal_handler, protect_response

logger = logging.getLogger("django_ticketoffice.decorators")

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])

PASSWORD_PARAMETERS = ("uuid", "password")


def session_key(place: str, purpose: str) -> str:
    """Return the session key that remembers a ticket for one place and purpose."""
    return f"ticketoffice:{len(place)}:{place}:{purpose}"


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


def credential_parameters() -> tuple[str, ...]:
    """The query-string parameters that carry credentials."""
    return (app_settings.TOKEN_PARAMETER, *PASSWORD_PARAMETERS)


def carries_credentials(request: HttpRequest) -> bool:
    """Tell whether the request's URL carries a credential parameter."""
    query = request.GET
    return any(name in query for name in credential_parameters())


def _clean_url(request: HttpRequest) -> str:
    query = request.GET.copy()
    for name in credential_parameters():
        query.pop(name, None)
    # "//host/..." would be a protocol-relative URL: an open redirect.
    path = escape_leading_slashes(request.path)
    return f"{path}?{query.urlencode()}" if query else path


def _uuid_or_none(value: Any) -> uuid.UUID | None:
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
    ticket_refused.send(
        sender=Ticket,
        reason=error.reason,
        error=error,
        uuid=ticket_uuid,
        place=place,
        purpose=purpose,
        request=request,
    )
    error.place, error.purpose = place, purpose  # for the page's "request a new link"
    return protect_response(get_refusal_handler(handler)(request, error))


def admit(
    request: HttpRequest,
    place: str,
    purpose: str,
    *,
    refusal_handler: RefusalHandler | str | None = None,
    redirect: bool | None = None,
) -> HttpResponse | None:
    """Admit the request's ticket, or return the response that ends the request.

    On success the ticket is attached to the request and None is returned.
    The response is a refusal, or the redirect that moves fresh credentials
    from the URL into the session.
    """
    credentials: Credentials | None = None
    remembered: Any = None
    session = getattr(request, "session", None)
    try:
        credentials = request_credentials(request, place, purpose)
        if credentials is not None:
            ticket = verify(credentials, place, purpose)
            if redirect is None:
                redirect = bool(app_settings.REDIRECT)
            if redirect and session is not None:
                session[session_key(place, purpose)] = str(ticket.uuid)
                status = 302 if request.method in ("GET", "HEAD") else 307
                return protect_response(HttpResponseRedirect(_clean_url(request), status=status))
        else:
            remembered = session.get(session_key(place, purpose)) if session is not None else None
            if remembered is None:
                raise NoTicketError("A ticket is required to see this page.")
            ticket = verify_session(remembered, place, purpose)
    except TicketError as error:
        ticket_uuid = error.ticket_uuid or (
            credentials.uuid if credentials is not None else _uuid_or_none(remembered)
        )
        return _refusal(request, error, refusal_handler, place, purpose, ticket_uuid)
    _attach(request, ticket)
    return None


class _ClaimRefused(Exception):
    """Raised by ``stamp_invitation`` for ``invitation_required`` to render."""

    def __init__(self, error: TicketError) -> None:
        super().__init__(error.message)
        self.error = error


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
    remembered in the session and the browser is redirected to the same URL
    without them (POST with 307, so the body survives). Without session
    middleware, or with ``redirect=False`` / ``TICKETOFFICE_REDIRECT = False``,
    the view runs at once. The view finds the ticket as ``request.ticket``,
    ``request.invitation`` and ``request.cache['invitation']``.

    Refusals render ``ticketoffice/401.html`` (no ticket) or
    ``ticketoffice/403.html``, or go to ``refusal_handler``.
    """

    def decorator(view: ViewFunc) -> ViewFunc:
        def finish(request: HttpRequest, response: HttpResponse) -> HttpResponse:
            # After the redirect the URL is clean, so same-origin referrers leak
            # nothing and keep the Origin header that CSRF checks need.
            policy = "no-referrer" if carries_credentials(request) else "same-origin"
            return protect_response(response, policy)

        def refused(request: HttpRequest, refusal: _ClaimRefused) -> HttpResponse:
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
                response = await sync_to_async(admit)(
                    request, place, purpose, refusal_handler=refusal_handler, redirect=redirect
                )
                if response is not None:
                    return response
                try:
                    return finish(request, await view(request, *args, **kwargs))
                except _ClaimRefused as refusal:
                    return await sync_to_async(refused)(request, refusal)

            markcoroutinefunction(async_wrapper)
            return functools.wraps(view)(async_wrapper)  # type: ignore[return-value]

        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            response = admit(
                request, place, purpose, refusal_handler=refusal_handler, redirect=redirect
            )
            if response is not None:
                return response
            try:
                return finish(request, view(request, *args, **kwargs))
            except _ClaimRefused as refusal:
                return refused(request, refusal)

        return functools.wraps(view)(wrapper)  # type: ignore[return-value]

    return decorator


class _Claim:
    """One request's claim on a ticket: Redis first-writer-wins, then the database."""

    def __init__(self, request: HttpRequest) -> None:
        ticket = getattr(request, "ticket", None)
        if not isinstance(ticket, Ticket):
            raise ImproperlyConfigured(
                "@stamp_invitation needs a ticket on the request: place it under "
                "@invitation_required."
            )
        self.request = request
        self.ticket = ticket
        self.store = get_store()
        self.fast = False
        self.claimed_at: Any = None

    def take(self) -> None:
        fast = self.store.claim(self.ticket.uuid)
        if fast is False:
            raise _ClaimRefused(
                TicketUsedError("The ticket is being used by another request.", genuine=True)
            )
        self.fast = bool(fast)
        try:
            self.claimed_at = self.ticket._claim()
        except TicketError as error:
            if self.fast:
                self.store.release(self.ticket.uuid)
            raise _ClaimRefused(error) from None

    def commit(self) -> None:
        ticket, request, fast = self.ticket, self.request, self.fast
        on_ticket_commit(lambda: ticket._after_use(request, release_claim=fast), ticket)

    def undo(self) -> None:
        try:
            self.ticket._release(self.claimed_at)
        except DatabaseError:
            # A broken transaction: its rollback undoes the claim anyway.
            logger.info("Ticket %s: claim left to the transaction rollback.", self.ticket.uuid)
        # The ticket is valid again: also drop a "used" stamp that a concurrent
        # request may have written back after seeing our claim in the database.
        self.store.release(self.ticket.uuid, unstamp=True)

    def settle(self, response: HttpResponse) -> HttpResponse:
        if response.status_code < 400:
            self.commit()
        else:
            self.undo()
        return response


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
    claim is released if the view raises or answers 400 or more.
    ``methods`` (e.g. ``["POST"]``) limits consumption to those methods, so a
    GET can show a confirmation page that link scanners cannot burn.
    """
    if view is None:
        return functools.partial(stamp_invitation, methods=methods)
    allowed = {m.upper() for m in methods} if methods is not None else None
    wrapped = view

    def consumes(request: HttpRequest) -> bool:
        return allowed is None or (request.method or "GET").upper() in allowed

    if iscoroutinefunction(wrapped):

        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not consumes(request):
                return await wrapped(request, *args, **kwargs)
            claim = _Claim(request)
            await sync_to_async(claim.take)()
            try:
                response = await wrapped(request, *args, **kwargs)
            except BaseException:
                await sync_to_async(claim.undo)()
                raise
            return await sync_to_async(claim.settle)(response)

        markcoroutinefunction(async_wrapper)
        return functools.wraps(wrapped)(async_wrapper)  # type: ignore[return-value]

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not consumes(request):
            return wrapped(request, *args, **kwargs)
        claim = _Claim(request)
        claim.take()
        try:
            response = wrapped(request, *args, **kwargs)
        except BaseException:
            claim.undo()
            raise
        return claim.settle(response)

    return functools.wraps(wrapped)(wrapper)  # type: ignore[return-value]
