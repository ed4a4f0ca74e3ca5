"""Settings for the audit trail (a fragment of settings.py)."""

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_ticketoffice",
    # After django_ticketoffice: its admin adds the trail to the ticket's page.
    "django_ticketoffice.contrib.audit",
]

# Keep the /24 (IPv4) or /48 (IPv6) network of clients, not their address.
# "full" keeps it, "hash" keeps a keyed hash, "drop" keeps nothing.
TICKETOFFICE_AUDIT_IP = "truncate"

# Admissions and refusals of one ticket are counted in one row per minute.
TICKETOFFICE_AUDIT_INTERVAL = 60
