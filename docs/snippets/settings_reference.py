"""Every django-ticketoffice setting, with its default value."""

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

# Absolute base of one-link URLs, e.g. "https://museum.example.com".
TICKETOFFICE_BASE_URL = None

# {"place:purpose": "url name"}: where the admin and commands point new tickets.
TICKETOFFICE_URLS = {}

# Dotted path of handler(request, error) -> HttpResponse for refusals.
TICKETOFFICE_REFUSAL_HANDLER = None
