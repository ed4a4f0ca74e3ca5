"""The settings that django-ticketoffice needs (a fragment of a project's settings.py)."""

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",  # remembers an admitted ticket after the redirect
    "django.contrib.messages",
    "django_ticketoffice",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

# Build one-link URLs from this base, never from the request's Host header.
TICKETOFFICE_BASE_URL = "https://museum.example.com"
