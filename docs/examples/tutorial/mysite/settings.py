# Appended to the settings.py that startproject wrote: sessions, the admin and
# CSRF are already there.
INSTALLED_APPS += ["django_ticketoffice", "museum"]

# Links are built from this address, never from a request's Host header.
TICKETOFFICE_BASE_URL = "http://127.0.0.1:8000"

# The admin and the ticketoffice_issue command show the link of new tickets:
# "place:purpose" -> the URL name of the view that accepts them.
TICKETOFFICE_URLS = {"museum:visit": "museum:visit"}

# Expired, used and revoked links offer a way to ask for a new one.
TICKETOFFICE_NEW_LINK_URLS = {"museum:visit": "museum:ask"}
