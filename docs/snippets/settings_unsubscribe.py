"""Settings for one-click unsubscribe links (a fragment of settings.py)."""

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    # Its templates: ticketoffice/unsubscribe_confirm.html and ticketoffice/unsubscribed.html.
    "django_ticketoffice",
]

# RFC 8058: the List-Unsubscribe URL must be https. Links are built from this
# base, never from the Host header of whatever request sends the mailing.
TICKETOFFICE_BASE_URL = "https://news.example.com"
