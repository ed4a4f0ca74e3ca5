"""Settings for tickets behind Django's password-reset views (a fragment of settings.py)."""

INSTALLED_APPS = [
    "django.contrib.admin",  # or your own registration/password_reset_*.html templates
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",  # Django moves the token from the URL into the session
    "django.contrib.messages",
    "django_ticketoffice",
]

# A reset link (its ticket) lives one hour. Django's default is three days.
PASSWORD_RESET_TIMEOUT = 60 * 60

# Links in the reset email are built from the request's host: accept only yours.
ALLOWED_HOSTS = ["accounts.example.com"]
