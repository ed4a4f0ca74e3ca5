"""WSGI entry point of the topology tests' gunicorn."""

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
