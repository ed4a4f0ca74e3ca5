"""Settings for ticket authentication in Django Ninja (a fragment of settings.py)."""

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "ninja",  # optional: the interactive API docs page at /api/docs
    "django_ticketoffice",
]
