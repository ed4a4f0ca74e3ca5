# Appended to the settings.py that startproject wrote, after
# "python manage.py startapp accounts", "startapp newsletter" and "startapp api".
INSTALLED_APPS += ["django_ticketoffice", "accounts", "newsletter", "api"]

# Links are built from this address, never from a request's Host header.
TICKETOFFICE_BASE_URL = "http://127.0.0.1:8000"
