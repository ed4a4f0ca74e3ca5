"""The life of a claim: how a ticket is consumed exactly as often as it allows.

A claim takes one use of a ticket *before* the protected action runs, with
one conditional UPDATE that only a valid ticket with uses left satisfies
(:func:`claim_rows`), so that of any number of concurrent requests exactly
``max_uses`` win. The use that exhausts the ticket also marks it used. Then
the action either succeeds and the claim is *settled* (the stamp cache and
``ticket_used`` follow the commit), or it fails and the claim is *undone*:
the use is given back.

This module owns that life for every caller: :meth:`Ticket.use`, sync and
async views, function and class-based views. It settles only once a response
is known to succeed (status below 400, *after* a lazy ``TemplateResponse`` has
rendered), undoes on any failure, including a cancelled task and a database
connection lost inside the view, and lets a revocation recorded meanwhile win.
"""

from __future__ import annotations

from .claim import Claim, ClaimRefused, use
from .sql import (
    ANY_USES,
    claim_any_by_pk,
    claim_any_by_uuid,
    claim_rows,
    claim_single_by_pk,
    claim_single_by_uuid,
    claim_statement,
    release_rows,
    takes_cache_claim,
)
from .views import (
    CLAIM_ATTRIBUTE,
    CONSUMES_ATTRIBUTE,
    NEVER_CONSUMING_METHODS,
    abandon,
    consumes,
    run_async_view,
    run_in_claim,
    run_view,
    taken_at_admission,
    to_completion,
)

__all__ = [
    "ANY_USES",
    "CLAIM_ATTRIBUTE",
    "CONSUMES_ATTRIBUTE",
    "NEVER_CONSUMING_METHODS",
    "Claim",
    "ClaimRefused",
    "abandon",
    "claim_any_by_pk",
    "claim_any_by_uuid",
    "claim_rows",
    "claim_single_by_pk",
    "claim_single_by_uuid",
    "claim_statement",
    "consumes",
    "release_rows",
    "run_async_view",
    "run_in_claim",
    "run_view",
    "taken_at_admission",
    "takes_cache_claim",
    "to_completion",
    "use",
]
