"""Optional integrations, each imported only by the project that uses it.

Nothing in the core imports this package. Each integration's third-party
dependency is an extra: ``pip install "django-ticketoffice[drf]"`` for
:mod:`django_ticketoffice.contrib.rest_framework`, ``[ninja]`` for
:mod:`django_ticketoffice.contrib.ninja`.
"""
