# Appended to the settings.py that startproject wrote: sessions, the admin and
# CSRF are already there.
INSTALLED_APPS += ["django_ticketoffice", "museum"]

# Links are built from this address, never from a request's Host header.
TICKETOFFICE_BASE_URL = "http://127.0.0.1:8000"
