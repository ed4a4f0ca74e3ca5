"""The museum: a small Django project that shows django-ticketoffice at work.

Run it with ``python -m demo``. It is a demonstration, not a production setup.
"""
