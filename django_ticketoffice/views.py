"""Class-based views: :class:`InvitationRequiredMixin`.

The refusal pages live in :mod:`django_ticketoffice.responses`; their names
are importable from here too.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .decorators import invitation_required, stamp_invitation
from .responses import (
    NO_STORE,
    TEMPLATES,
    RefusalHandler,
    _pages,
    get_refusal_handler,
    protect_response,
    refuse,
)

__all__ = [
    "NO_STORE",
    "TEMPLATES",
    "InvitationRequiredMixin",
    "RefusalHandler",
    "_pages",
    "get_refusal_handler",
    "protect_response",
    "refuse",
]


class InvitationRequiredMixin:
    """Class-based-view counterpart of ``@invitation_required``.

    Set ``place`` and ``purpose`` (and ``stamp = True`` to consume the ticket
    once the view succeeds). The ticket is ``self.ticket`` and ``request.ticket``.
    """

    place: str = ""
    purpose: str = ""
    stamp: bool = False
    refusal_handler: RefusalHandler | str | None = None
    _ticket_options = ("place", "purpose", "stamp", "refusal_handler")

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        view = super().as_view(**initkwargs)  # type: ignore[misc]
        # ``as_view(place=...)`` configures the instances: admit what they serve.
        options = {name: initkwargs.get(name, getattr(cls, name)) for name in cls._ticket_options}
        if options["stamp"]:
            view = stamp_invitation(view)
        return invitation_required(
            place=options["place"],
            purpose=options["purpose"],
            refusal_handler=options["refusal_handler"],
        )(view)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        self.ticket = getattr(request, "ticket", None)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
