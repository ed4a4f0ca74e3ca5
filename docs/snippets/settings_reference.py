"""Every django-ticketoffice setting, with its default value."""

from datetime import timedelta

# (dotted path, args, kwargs) of the callable that generates secrets: 128 bits.
TICKETOFFICE_PASSWORD_GENERATOR = ("secrets.token_urlsafe", [16], {})

# Keys that sign tokens. None: Django's SECRET_KEY and SECRET_KEY_FALLBACKS.
TICKETOFFICE_SECRET_KEY = None
TICKETOFFICE_SECRET_KEY_FALLBACKS = []

# Query-string parameter of one-link URLs: /visit/?ticket=<token>.
TICKETOFFICE_TOKEN_PARAMETER = "ticket"  # noqa: S105

# Move credentials from the URL into the session, and redirect to a clean URL.
TICKETOFFICE_REDIRECT = True

# Cache alias for "used" and "revoked" stamps, and the prefix of their keys.
TICKETOFFICE_CACHE = "default"
TICKETOFFICE_CACHE_KEY_PREFIX = "ticketoffice:"

# The stamps' own Redis, instead of TICKETOFFICE_CACHE: a URL such as
# "redis://10.0.0.5:6379/0", or {"CLUSTER": [...]} or {"SENTINELS": [...], ...}.
TICKETOFFICE_REDIS = None

# While the cache is down: "db" checks the database, "closed" refuses (503).
TICKETOFFICE_CACHE_FAILURE = "db"

# Seconds the circuit breaker keeps a failed cache out of the request path.
TICKETOFFICE_CACHE_RETRY_INTERVAL = 5.0

# Seconds a stamp lives for a ticket without expiry (30 days).
TICKETOFFICE_STAMP_TTL = 30 * 24 * 3600

# Seconds a Redis claim lives while a stamped view runs.
TICKETOFFICE_CLAIM_TTL = 60

# Final refusals (revoked, used) each process keeps in memory, and for how long.
TICKETOFFICE_LOCAL_STAMPS = 10_000
TICKETOFFICE_LOCAL_STAMP_TTL = 60.0

# Absolute base of one-link URLs, e.g. "https://museum.example.com".
TICKETOFFICE_BASE_URL = None

# {"place:purpose": "url name"}: where the admin and commands point new tickets.
TICKETOFFICE_URLS = {}

# Dotted path of handler(request, error) -> HttpResponse for refusals.
TICKETOFFICE_REFUSAL_HANDLER = None

# Lifetime of tickets issued from the admin and by ticketoffice_issue, unless
# "never expires" is chosen: a timedelta, a number of seconds, or None.
TICKETOFFICE_DEFAULT_LIFETIME = timedelta(days=7)

# Where a visitor whose link expired, was used or was revoked asks for a new one:
# a URL name, path or URL for every ticket, or {"place:purpose": url, "*": url}.
TICKETOFFICE_NEW_LINK_URLS = None
# Failed guesses of a short code or a 0.2 password that lock a ticket.
TICKETOFFICE_MAX_ATTEMPTS = {"code": 5, "password": 10}

# Optional apps (django_ticketoffice.contrib); the core never reads these.
# contrib.audit: record events at all; keep client IPs "full", "truncate"d
# (/24, /48), as a keyed "hash", or "drop" them; seconds over which the
# admissions and refusals of one ticket are counted in one row.
TICKETOFFICE_AUDIT_ENABLED = True
TICKETOFFICE_AUDIT_IP = "truncate"
TICKETOFFICE_AUDIT_INTERVAL = 60

# contrib.unsubscribe: dotted path of unsubscribe(recipient, mailing_list, *, ticket, request).
TICKETOFFICE_UNSUBSCRIBE_HANDLER = None
