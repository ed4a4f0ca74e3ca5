"""System checks of the audit trail's settings.

=======================  =====================================================
``ticketoffice.W101``    ``TICKETOFFICE_AUDIT_IP`` is not a known mode.
``ticketoffice.W102``    ``TICKETOFFICE_AUDIT_INTERVAL`` is not a positive integer.
=======================  =====================================================
"""

from __future__ import annotations

from typing import Any

from django.core import checks

from ...conf import app_settings
from .clients import IP_MODES


@checks.register("ticketoffice")
def check_audit_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W101, W102: the audit settings have usable values."""
    errors: list[checks.CheckMessage] = []
    mode = app_settings.AUDIT_IP
    if mode not in IP_MODES:
        errors.append(
            checks.Warning(
                f"TICKETOFFICE_AUDIT_IP is {mode!r}.",
                hint=f"Use one of {', '.join(repr(m) for m in IP_MODES)}. Until then client "
                "addresses are truncated.",
                id="ticketoffice.W101",
            )
        )
    interval = app_settings.AUDIT_INTERVAL
    if isinstance(interval, bool) or not isinstance(interval, int) or interval <= 0:
        errors.append(
            checks.Warning(
                f"TICKETOFFICE_AUDIT_INTERVAL is {interval!r}.",
                hint="Use a positive number of seconds (the default is 60).",
                id="ticketoffice.W102",
            )
        )
    return errors
