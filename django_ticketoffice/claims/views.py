"""Views inside a claim: sync and async, one unit from take to settle or undo."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.http import HttpRequest

from ..exceptions import TicketError
from .claim import Claim, ClaimRefused

T = TypeVar("T")

# Browsers never navigate with these, link checkers and prefetchers send them:
# they never consume a ticket.
NEVER_CONSUMING_METHODS = frozenset({"HEAD", "OPTIONS", "TRACE"})


def consumes(request: HttpRequest, methods: frozenset[str] | None) -> bool:
    """Tell whether ``request`` consumes its ticket (``methods``: None for all)."""
    method = (request.method or "GET").upper()
    if method in NEVER_CONSUMING_METHODS:
        return False
    return methods is None or method in methods


CLAIM_ATTRIBUTE = "_ticketoffice_claim"
# Set on a stamped view: the methods that consume (None: all but HEAD/OPTIONS).
CONSUMES_ATTRIBUTE = "_ticketoffice_consumes"


def taken_at_admission(request: HttpRequest) -> Claim | None:
    """The claim that admission took for the stamped view, once, if any."""
    claim = getattr(request, CLAIM_ATTRIBUTE, None)
    if claim is None or claim.adopted or not claim.taken:
        return None
    if claim.ticket is not getattr(request, "ticket", None):
        return None
    claim.adopted = True
    return claim


def abandon(request: HttpRequest) -> None:
    """Undo a claim taken at admission that no stamped view took over.

    Another decorator between ``@invitation_required`` and
    ``@stamp_invitation`` may answer without calling the view (a login
    redirect): then nothing happened, and the ticket stays valid.
    """
    claim = getattr(request, CLAIM_ATTRIBUTE, None)
    if claim is not None and not claim.adopted:
        claim.undo()


def run_in_claim(claim: Claim, call: Callable[[], Any]) -> Any:
    """Take ``claim`` (unless taken already), run ``call``, then settle or undo on its response.

    Raises :class:`ClaimRefused` when the ticket cannot be claimed. The one
    sync sequence for every caller: stamped views and the API integrations.
    """
    if not claim.taken:
        try:
            claim.take()  # undoes itself if interrupted
        except TicketError as error:
            raise ClaimRefused(error) from None
    try:
        response = call()
    except BaseException:
        claim.undo()
        raise
    return claim.finish(response)


def run_view(view: Callable[..., Any], request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
    """Run a sync view inside a claim on the request's ticket.

    Raises :class:`ClaimRefused` when the ticket cannot be claimed.
    """
    claim = taken_at_admission(request) or Claim.for_request(request)
    return run_in_claim(claim, lambda: view(request, *args, **kwargs))


async def to_completion(step: Callable[[], T]) -> T:
    """Run a sync step in its thread to the end, even if this task is cancelled meanwhile.

    A thread cannot be stopped: a cancelled await would leave a claim taken by
    a step that goes on without us. So wait for the step, then re-raise the
    cancellation for the caller to undo what the step did.
    """
    task = asyncio.ensure_future(sync_to_async(step)())
    cancelled: BaseException | None = None
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError as error:
            cancelled = error
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller must see
        raise cancelled
    return task.result()


async def run_async_view(
    view: Callable[..., Any], request: HttpRequest, *args: Any, **kwargs: Any
) -> Any:
    """Run an async view inside a claim; a cancellation at any await point undoes it."""
    claim = taken_at_admission(request)
    if claim is None:
        claim = Claim.for_request(request)
        try:
            await to_completion(claim.take)
        except TicketError as error:
            raise ClaimRefused(error) from None
        except BaseException:
            # Cancelled while the claim was being taken: it went on, undo it.
            await to_completion(claim.undo)
            raise
    try:
        response = await view(request, *args, **kwargs)
    except BaseException:
        await to_completion(claim.undo)
        raise
    return await to_completion(functools.partial(claim.finish, response))
