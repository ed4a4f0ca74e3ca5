"""The accounts app of the how-to guides: its signal receivers connect when Django starts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self):
        # Modules whose @receiver functions must be connected before any request.
        from . import attempt_limits, audit  # noqa: F401
