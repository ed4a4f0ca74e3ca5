"""Refusal pages of finished links offer a way to ask for a new one."""

TICKETOFFICE_NEW_LINK_URLS = {
    "accounts:password-reset": "password-reset",  # a URL name
    "*": "/contact/",  # a path (or an absolute "https://..." URL) for every other ticket
}
