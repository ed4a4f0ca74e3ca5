"""Settings for ticket authentication in Django REST framework (a fragment of settings.py)."""

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "drf_spectacular",  # optional: an OpenAPI schema that names the Ticket scheme
    "django_ticketoffice",
]

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
