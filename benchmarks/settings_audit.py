"""The benchmark project with the audit trail installed (benchmarks/audit_flood.py)."""

from benchmarks.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django_ticketoffice.contrib.audit"]  # noqa: F405
# Switched on and off by the measurement, round by round.
TICKETOFFICE_AUDIT_ENABLED = False
