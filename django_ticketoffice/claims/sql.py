"""The claim's SQL: one conditional UPDATE, built with the ORM in one place.

Every claim, for every caller, is :func:`claim_statement`. The functions
below it name the statements that :mod:`django_ticketoffice.statements`
compiles once per connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Case, F, Q, Value, When

from ..states import valid_q

# For claim_statement(): the row's own max_uses decides (the ticket is not loaded).
ANY_USES = -1

# The claim, in one place for every caller ----------------------------------------


def claim_statement(
    rows: models.QuerySet[Any], now: datetime, max_uses: int | None = 1
) -> tuple[models.QuerySet[Any], dict[str, Any]]:
    """THE claim: the UPDATE that takes one use of each valid row of ``rows`` with uses left.

    Returns the queryset and the values to update. The limit is in the WHERE,
    so concurrent claims never take more than ``max_uses``; the use that
    reaches it stamps ``usage_datetime`` (the ticket is used up).
    ``max_uses`` is the tickets' own (it never changes once issued): it only
    picks the cheapest statement that says so; ``ANY_USES`` lets each row's
    own limit decide, for a ticket known only by its uuid. Every claim is
    built here, and run by :mod:`.statements`, compiled once.
    """
    valid = valid_q(now)
    if max_uses == 1:
        # The hot path: a single-use ticket's only use is its last.
        return rows.filter(valid, max_uses=1, uses=0), {"usage_datetime": now, "uses": 1}
    if max_uses is None:
        # No limit but the expiry: nothing to count against, never used up.
        return rows.filter(valid, max_uses__isnull=True), {"uses": F("uses") + 1}
    if max_uses == ANY_USES:
        rows = rows.filter(valid, Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
    else:
        rows = rows.filter(valid, uses__lt=F("max_uses"))
    return rows, {
        # Before ``uses``: MySQL assigns left to right, so this reads the count
        # before the claim, as every other database does. NULL <= n is not
        # true: an unlimited ticket is never used up.
        "usage_datetime": Case(
            When(max_uses__lte=F("uses") + 1, then=Value(now)),
            default=Value(None),
            output_field=models.DateTimeField(),
        ),
        "uses": F("uses") + 1,
    }


def claim_rows(rows: models.QuerySet[Any], now: datetime, max_uses: int | None = 1) -> int:
    """Run :func:`claim_statement` through the ORM; return the number of rows claimed."""
    queryset, values = claim_statement(rows, now, max_uses)
    return int(queryset.update(**values))


def release_rows(rows: models.QuerySet[Any]) -> int:
    """Give back one use of each row of ``rows``: the undo of a claim.

    The ticket has a use left again, so it is no longer used up. A
    revocation recorded meanwhile stays, and keeps the ticket refused.
    """
    return int(rows.filter(uses__gt=0).update(uses=F("uses") - 1, usage_datetime=None))


def takes_cache_claim(ticket: Any) -> bool:
    """Tell whether a claim on ``ticket`` takes the fast first-writer-wins cache key.

    Only single-use tickets do: for them the first writer is the only one
    that can win. Concurrent uses of a multi-use ticket are all legitimate
    until the limit, which only the database claim counts.
    """
    return getattr(ticket, "max_uses", 1) == 1


# Statements compiled once by :mod:`.statements` (each function names its statement).


def claim_single_by_pk(model: Any, inputs: dict[str, Any]) -> Any:
    """Claim a loaded single-use ticket."""
    return claim_statement(model._base_manager.filter(pk=inputs["pk"]), inputs["now"], 1)


def claim_any_by_pk(model: Any, inputs: dict[str, Any]) -> Any:
    """Claim one use of a loaded ticket, whatever its limit."""
    return claim_statement(model._base_manager.filter(pk=inputs["pk"]), inputs["now"], ANY_USES)


def _by_uuid(model: Any, inputs: dict[str, Any]) -> Any:
    return model._base_manager.filter(
        uuid=inputs["uuid"], place=inputs["place"], purpose=inputs["purpose"]
    )


def claim_single_by_uuid(model: Any, inputs: dict[str, Any]) -> Any:
    """Claim a single-use ticket known by uuid, for its place and purpose only."""
    return claim_statement(_by_uuid(model, inputs), inputs["now"], 1)


def claim_any_by_uuid(model: Any, inputs: dict[str, Any]) -> Any:
    """Claim one use of a ticket known by uuid, whatever its limit."""
    return claim_statement(_by_uuid(model, inputs), inputs["now"], ANY_USES)
