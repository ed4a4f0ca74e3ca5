"""Settings of the gunicorn that topology tests start: the test settings, plus overrides.

The test passes the topology's settings as JSON in ``TOPOLOGY_SETTINGS``
(``DATABASES``, ``CACHES``, ``TICKETOFFICE_REDIS``, ``DATABASE_ROUTERS``, ...),
usually built from a documentation snippet with the addresses replaced.
"""

from __future__ import annotations

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import MIDDLEWARE

globals().update(json.loads(os.environ.get("TOPOLOGY_SETTINGS", "{}")))

# These tests count where each stamp lookup goes (the primary, never a replica):
# no final refusals kept in the workers' memory in front of Redis.
TICKETOFFICE_LOCAL_STAMPS = 0

ROOT_URLCONF = "tests.topology.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# Count every query of a request, on every database, in response headers.
MIDDLEWARE = ["tests.topology.views.count_queries", *MIDDLEWARE]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_ticketoffice": {"handlers": ["console"], "level": "INFO"},
        "django.request": {"handlers": ["console"], "level": "ERROR"},
    },
}
