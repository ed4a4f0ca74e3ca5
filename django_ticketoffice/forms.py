"""Admin forms: issue a ticket (add form) and edit its data (change form)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.forms.fields import JSONString
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .attempts import MAX_LIMIT
from .models import Ticket
from .tokens import MAX_EXPIRY
from .utils import loads_json, parse_duration

JSON_HELP = _('JSON, for example {"first_name": "Léonard"}. Leave empty for no data.')


class TicketDataField(forms.JSONField):
    """A JSON textarea whose error says what is wrong; empty means ``{}``."""

    default_error_messages = {
        "invalid": _('Enter valid JSON, for example {"first_name": "Léonard"}: %(detail)s'),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", JSON_HELP)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 6, "cols": 60}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        """Parse the JSON text, naming the parser's complaint in the error."""
        if self.disabled:
            return value
        if value in self.empty_values:
            return {}
        if isinstance(value, (list, dict, int, float)):
            return value
        try:
            converted = loads_json(value)
        except ValueError as error:
            if isinstance(error, json.JSONDecodeError):
                detail = f"{error.msg} (line {error.lineno}, column {error.colno})"
            else:
                detail = str(error)
            raise forms.ValidationError(
                self.error_messages["invalid"],
                code="invalid",
                params={"value": value, "detail": detail},
            ) from None
        return JSONString(converted) if isinstance(converted, str) else converted


class TicketAddForm(forms.ModelForm):
    """Issue a ticket: place, purpose, data, and an expiry or a lifetime."""

    data = TicketDataField(label=_("data"))  # type: ignore[assignment]
    lifetime = forms.CharField(
        label=_("lifetime"),
        required=False,
        max_length=20,
        help_text=_("Instead of an expiry: a duration from now such as 90m, 2h, 3d or 1w."),
    )

    max_uses = forms.IntegerField(
        label=_("maximum uses"),
        required=False,
        min_value=1,
        initial=1,
        help_text=_("How many stamped uses the ticket allows (default 1)."),
    )
    unlimited_uses = forms.BooleanField(
        label=_("unlimited uses"),
        required=False,
        help_text=_("Any number of uses until the expiry (needs an expiry or a lifetime)."),
    )

    class Meta:
        model = Ticket
        fields = ["place", "purpose", "data", "expiry_datetime", "max_uses", "max_attempts"]

    def clean_lifetime(self) -> timedelta | None:
        """Parse ``3d``, ``2h``, ``90m``; refuse zero and garbage."""
        value = (self.cleaned_data.get("lifetime") or "").strip()
        if not value:
            return None
        try:
            lifetime = parse_duration(value)
        except ValueError as error:
            raise forms.ValidationError(str(error), code="invalid") from None
        if lifetime <= timedelta(0):
            raise forms.ValidationError(_("The lifetime must be positive."), code="invalid")
        return lifetime

    def clean_max_attempts(self) -> int | None:
        """From 1 to 100 failed guesses (NIST SP 800-63B §5.2.2); empty for the setting."""
        value = self.cleaned_data.get("max_attempts")
        if value is not None and not 1 <= value <= MAX_LIMIT:
            raise forms.ValidationError(
                _("Allow from 1 to %(max)d failed attempts."),
                code="range",
                params={"max": MAX_LIMIT},
            )
        return value

    def clean(self) -> dict[str, Any]:
        """Turn a lifetime into an expiry; refuse both at once, and an expiry in the past."""
        cleaned_data = super().clean() or {}
        lifetime = cleaned_data.get("lifetime")
        expiry = cleaned_data.get("expiry_datetime")
        if lifetime is not None and expiry is not None:
            raise forms.ValidationError(
                _("Give an expiry or a lifetime, not both."), code="expiry_and_lifetime"
            )
        now = timezone.now()
        # A token cannot carry a later expiry (and the datetime would overflow).
        too_late = forms.ValidationError(
            _("The expiry must be before %(max)s."),
            code="too_late",
            params={"max": MAX_EXPIRY.date().isoformat()},
        )
        if lifetime is not None:
            if lifetime > MAX_EXPIRY - now:
                self.add_error("lifetime", too_late)
            else:
                cleaned_data["expiry_datetime"] = now + lifetime
        elif expiry is not None and expiry <= now:
            self.add_error(
                "expiry_datetime",
                forms.ValidationError(_("The expiry is in the past."), code="past"),
            )
        elif expiry is not None and expiry > MAX_EXPIRY:
            self.add_error("expiry_datetime", too_late)
        if cleaned_data.get("unlimited_uses"):
            cleaned_data["max_uses"] = None
            if cleaned_data.get("expiry_datetime") is None:
                self.add_error(
                    "unlimited_uses",
                    forms.ValidationError(
                        _("A ticket with unlimited uses needs an expiry or a lifetime."),
                        code="unlimited_without_expiry",
                    ),
                )
        elif cleaned_data.get("max_uses") is None and not self.has_error("max_uses"):
            cleaned_data["max_uses"] = 1
        return cleaned_data


class TicketChangeForm(forms.ModelForm):
    """Edit an issued ticket: only its data; what the token binds is read-only."""

    data = TicketDataField(label=_("data"))  # type: ignore[assignment]

    class Meta:
        model = Ticket
        fields = ["data"]
