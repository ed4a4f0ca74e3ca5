"""Django Ninja: tickets in the ``Authorization`` header (``pip install ...[ninja]``).

:class:`TicketAuth` is an ``HttpBearer`` whose scheme is ``Ticket``::

    api = NinjaAPI()
    handle_refusals(api)  # 401 with WWW-Authenticate, {"detail", "code"} bodies

    @api.post("/download", auth=TicketAuth("api", "download"))
    @consume_ticket
    def download(request): ...

Clients send ``Authorization: Ticket <token>``. :class:`TicketBearerAuth`
reads ``Authorization: Bearer <token>`` instead, for Swagger UI's "Authorize"
dialog (it fills only Basic and Bearer headers) in an API with no other
bearer tokens. The ticket becomes ``request.auth`` and ``request.ticket``; the
OpenAPI schema names the scheme (``components.securitySchemes.TicketAuth``).
Sync and async operations are both supported.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.security import HttpBearer
from ninja.utils import contribute_operation_callback

from .. import claims
from ..exceptions import NoTicketError, TicketError
from ..verification import ticket_model
from . import headers

__all__ = ["TicketAuth", "TicketBearerAuth", "TicketRefused", "consume_ticket", "handle_refusals"]

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])

# Where the operation's claim waits, between the view and its response.
CLAIM_ATTRIBUTE = "_ticketoffice_claim"
# The WWW-Authenticate challenge of a request that sent no ticket to a TicketAuth.
CHALLENGE_ATTRIBUTE = "_ticketoffice_challenge"


class TicketRefused(HttpError):
    """A refused ticket: 401 (not ours), 403 (used, revoked, expired) or 503."""

    def __init__(
        self,
        error: TicketError,
        *,
        keyword: str = headers.DEFAULT_KEYWORD,
        realm: str = headers.DEFAULT_REALM,
    ) -> None:
        answer = headers.refusal_for_error(error)
        super().__init__(answer.status_code, answer.detail)
        self.code = answer.code
        self.www_authenticate = (
            headers.www_authenticate(keyword, realm) if answer.status_code == 401 else None
        )


def handle_refusals(api: NinjaAPI) -> None:
    """Answer ticket refusals with ``{"detail", "code"}`` and, on 401, ``WWW-Authenticate``.

    Registers handlers for :class:`TicketRefused` and for Ninja's
    ``AuthenticationError`` (raised when no auth of an operation accepted the
    request): when a :class:`TicketAuth` found no ticket, the 401 carries its
    challenge. Without this, Ninja's own handler still answers the right
    status with ``{"detail": ...}``.
    """

    def refused(request: HttpRequest, exc: TicketRefused | type[TicketRefused]) -> HttpResponse:
        assert isinstance(exc, TicketRefused)
        response = api.create_response(
            request, {"detail": exc.message, "code": exc.code}, status=exc.status_code
        )
        if exc.www_authenticate:
            response["WWW-Authenticate"] = exc.www_authenticate
        return response

    def unauthenticated(
        request: HttpRequest, exc: AuthenticationError | type[AuthenticationError]
    ) -> HttpResponse:
        assert isinstance(exc, AuthenticationError)
        challenge = request.__dict__.get(CHALLENGE_ATTRIBUTE)
        if challenge is None:
            return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)
        body = headers.refusal_for_error(NoTicketError()).as_dict()
        response = api.create_response(request, body, status=exc.status_code)
        response["WWW-Authenticate"] = challenge
        return response

    api.add_exception_handler(TicketRefused, refused)
    api.add_exception_handler(AuthenticationError, unauthenticated)


class TicketAuth(HttpBearer):
    """Authenticate with ``Authorization: Ticket <token>`` for one ``place`` and ``purpose``.

    Other schemes return None, so another auth of the operation may try. A
    refused ticket raises :class:`TicketRefused`.
    """

    place: str = ""
    purpose: str = ""
    keyword: str = headers.DEFAULT_KEYWORD
    realm: str = headers.DEFAULT_REALM
    # The OpenAPI security scheme, named after the class: {"type": "http", "scheme": "ticket"}.
    openapi_scheme: str = "ticket"

    def __init__(self, place: str | None = None, purpose: str | None = None) -> None:
        if place is not None:
            self.place = place
        if purpose is not None:
            self.purpose = purpose
        super().__init__()

    def __call__(self, request: HttpRequest) -> Any:
        """Return the ticket, None for another scheme, or raise :class:`TicketRefused`."""
        try:
            token = headers.token_from_header(request.headers.get(self.header), self.keyword)
            if token is None:
                request.__dict__.setdefault(
                    CHALLENGE_ATTRIBUTE, headers.www_authenticate(self.keyword, self.realm)
                )
                return None
            return self.authenticate(request, token)
        except TicketError as error:
            headers.refused(request, error, self.place, self.purpose)
            raise TicketRefused(error, keyword=self.keyword, realm=self.realm) from None

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        """Verify ``token``; attach the ticket as ``request.ticket`` and return it."""
        ticket = headers.admit_token(request, token, self.place, self.purpose)
        request.ticket = ticket  # type: ignore[attr-defined]
        return ticket


class TicketBearerAuth(TicketAuth):
    """:class:`TicketAuth` reading ``Authorization: Bearer <token>`` (OpenAPI: bearer, ticket)."""

    keyword = "Bearer"
    openapi_scheme = "bearer"
    openapi_bearerFormat = "ticket"


def _claim_for(request: HttpRequest) -> claims.Claim:
    """A claim on the ticket that authenticated ``request`` (401 without one). No I/O."""
    ticket = getattr(request, "auth", None)
    if not isinstance(ticket, ticket_model()):
        raise TicketRefused(NoTicketError())
    return headers.ApiClaim(ticket, request=request)


def _refuse(request: HttpRequest, claim: claims.Claim, error: TicketError) -> TicketRefused:
    headers.refused(request, error, claim.ticket.place, claim.ticket.purpose)
    return TicketRefused(error)


def _sync_view(view: Callable[..., Any], allowed: frozenset[str] | None) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not claims.consumes(request, allowed):
            return view(request, *args, **kwargs)
        claim = _claim_for(request)
        try:
            claim.take()  # undoes itself if interrupted
        except TicketError as error:
            raise _refuse(request, claim, error) from None
        request.__dict__[CLAIM_ATTRIBUTE] = claim
        try:
            return view(request, *args, **kwargs)
        except BaseException:
            claim.undo()
            raise

    return wrapper


def _async_view(view: Callable[..., Any], allowed: frozenset[str] | None) -> Callable[..., Any]:
    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not claims.consumes(request, allowed):
            return await view(request, *args, **kwargs)
        claim = _claim_for(request)
        try:
            await claims.to_completion(claim.take)
        except TicketError as error:
            raise await sync_to_async(_refuse)(request, claim, error) from None
        except BaseException:
            # Cancelled while the claim was being taken: it went on, undo it.
            await claims.to_completion(claim.undo)
            raise
        request.__dict__[CLAIM_ATTRIBUTE] = claim
        try:
            return await view(request, *args, **kwargs)
        except BaseException:
            await claims.to_completion(claim.undo)
            raise

    return wrapper


def _finishing(run: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``Operation.run``: settle or undo the claim on the response Ninja made."""
    if iscoroutinefunction(run):

        @functools.wraps(run)
        async def async_run(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            try:
                response = await run(request, *args, **kwargs)
            except BaseException:
                claim = request.__dict__.pop(CLAIM_ATTRIBUTE, None)
                if claim is not None:
                    await claims.to_completion(claim.undo)
                raise
            claim = request.__dict__.pop(CLAIM_ATTRIBUTE, None)
            if claim is None:
                return response
            return await claims.to_completion(functools.partial(claim.finish, response))

        return async_run

    @functools.wraps(run)
    def sync_run(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            response = run(request, *args, **kwargs)
        except BaseException:
            claim = request.__dict__.pop(CLAIM_ATTRIBUTE, None)
            if claim is not None:
                claim.undo()
            raise
        claim = request.__dict__.pop(CLAIM_ATTRIBUTE, None)
        return response if claim is None else claim.finish(response)

    return sync_run


def _contribute(operation: Any) -> None:
    operation.run = _finishing(operation.run)
    # Ninja re-applies these when it clones an operation (a router mounted twice).
    if not hasattr(operation, "_run_decorators"):
        operation._run_decorators = []
    operation._run_decorators.append(_finishing)


def consume_ticket(view: ViewFunc | None = None, *, methods: list[str] | None = None) -> Any:
    """Use the operation's ticket exactly once if it succeeds (a 2xx response).

    Place it under the ``@api.get/post/...`` decorator of an operation whose
    ``auth`` is a :class:`TicketAuth`. The ticket is claimed before the
    function runs (so of concurrent requests only one runs it) and the use is
    settled once Ninja has built a 2xx response; an exception, an
    ``HttpError`` or any other status undoes it. HEAD and OPTIONS never
    consume; ``methods`` limits consumption further.
    """
    if view is None:
        return functools.partial(consume_ticket, methods=methods)
    allowed = frozenset(m.upper() for m in methods) if methods is not None else None
    make = _async_view if iscoroutinefunction(view) else _sync_view
    wrapper = make(view, allowed)
    contribute_operation_callback(wrapper, _contribute)
    return wrapper
