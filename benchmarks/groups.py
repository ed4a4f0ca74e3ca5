"""Which measures sit side by side on the results page (no Django needed here)."""

from __future__ import annotations

# Side by side on the results page: (key, title, section, [(implementation, measure)]).
GROUPS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("flow", "Accept flow (credential request, redirect, consuming view)", "request",
     [("ticketoffice", "flow.ticketoffice"), ("handwritten", "flow.handwritten"),
      ("sesame", "flow.sesame"), ("pbkdf2", "flow.pbkdf2")]),
    ("replay", "Replayed credential → 403", "request",
     [("ticketoffice", "replay.ticketoffice"), ("handwritten", "replay.handwritten"),
      ("sesame", "replay.sesame"), ("pbkdf2", "replay.pbkdf2")]),
    ("revoked", "Revoked ticket → 403", "request",
     [("ticketoffice", "revoked.ticketoffice"), ("handwritten", "replay.handwritten")]),
    ("forged", "Forged token → 403", "request",
     [("ticketoffice", "forged.ticketoffice"), ("handwritten", "refusal.handwritten"),
      ("sesame", "forged.sesame")]),
    ("truncated", "Truncated token → 403", "request",
     [("ticketoffice", "truncated.ticketoffice"), ("handwritten", "refusal.handwritten")]),
    ("wrong_place", "Wrong-place token → 403", "request",
     [("ticketoffice", "wrong_place.ticketoffice"), ("handwritten", "refusal.handwritten")]),
    ("expired", "Signed-expired token → 403", "request",
     [("ticketoffice", "expired.ticketoffice"), ("handwritten", "refusal.handwritten")]),
    ("verify_use", "In process: check a one-link credential and use it", "inprocess",
     [("ticketoffice", "verify_use.ticketoffice"), ("handwritten", "verify_use.handwritten"),
      ("sesame", "get_user.sesame"), ("pbkdf2", "authenticate_use.pbkdf2")]),
    ("authenticate_use", "In process: authenticate(uuid, secret) and use it", "inprocess",
     [("ticketoffice", "authenticate_use.ticketoffice"), ("sesame", "get_user.sesame"),
      ("pbkdf2", "authenticate_use.pbkdf2")]),
    ("multi_use_flow", "Accept flow, a ticket of 3 uses (first use)", "request",
     [("ticketoffice", "flow.multi_use"), ("handwritten", "flow.handwritten")]),
    ("multi_use", "In process: check a 3-use ticket's token and use it", "inprocess",
     [("ticketoffice", "verify_use.multi_use"), ("handwritten", "verify_use.handwritten")]),
    ("code", "In process: check a short code and use its ticket", "inprocess",
     [("ticketoffice", "verify_code_use.ticketoffice"),
      ("handwritten", "verify_use.handwritten")]),
    ("read_token", "In process: read a token (signature, expiry, place)", "inprocess",
     [("ticketoffice", "read_token.ticketoffice"), ("handwritten", "unsign.handwritten")]),
]  # fmt: skip
