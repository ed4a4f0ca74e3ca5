# Appended to the settings.py that startproject wrote, after
# "python manage.py startapp accounts" (and newsletter, api, reports).
INSTALLED_APPS += ["django_ticketoffice", "accounts", "newsletter", "api", "reports"]

# Links are built from this address, never from a request's Host header.
# In production: your site's https:// address.
TICKETOFFICE_BASE_URL = "http://127.0.0.1:8000"

# Password reset with Django's views: a link lives one hour (Django's default: three days).
PASSWORD_RESET_TIMEOUT = 60 * 60

# Django REST framework, and drf-spectacular for an OpenAPI schema that names
# the Ticket scheme (optional).
INSTALLED_APPS += ["rest_framework", "drf_spectacular"]
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}

# Django Ninja needs no setting. Optional: with "ninja" installed, its API docs
# page comes from your static files rather than a CDN.
INSTALLED_APPS += ["ninja"]

# The audit trail. After django_ticketoffice: its admin adds the trail to the ticket's page.
INSTALLED_APPS += ["django_ticketoffice.contrib.audit"]
# Keep the /24 (IPv4) or /48 (IPv6) network of clients, not their address.
# "full" keeps it, "hash" keeps a keyed hash, "drop" keeps nothing.
TICKETOFFICE_AUDIT_IP = "truncate"
# Admissions and refusals of one ticket are counted in one row per minute.
TICKETOFFICE_AUDIT_INTERVAL = 60

# Attempt limits: failed guesses that lock a ticket (these are the defaults; 1 to 100).
TICKETOFFICE_MAX_ATTEMPTS = {"code": 5, "password": 10}
