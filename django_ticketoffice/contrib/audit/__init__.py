"""An audit trail of tickets: an optional app, ``django_ticketoffice.contrib.audit``.

Add it to ``INSTALLED_APPS`` (after ``django_ticketoffice``) and migrate. It
records a :class:`~django_ticketoffice.contrib.audit.models.TicketEvent` for
each ticket issued, admitted, used, refused, revoked or locked, from the
library's signals; shows them on the ticket's admin page; and
``manage.py ticketoffice_purge_events --older-than 90d`` deletes old ones.
A replay flood does not become a write flood: see
:mod:`django_ticketoffice.contrib.audit.recording`.
"""
