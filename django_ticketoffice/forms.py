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
from .conf import app_settings
from .models import Ticket
from .tokens import MAX_EXPIRY
from .utils import as_lifetime, format_duration, loads_json, parse_duration

JSON_HELP = _('JSON, for example {"first_name": "Léonard"}. Leave empty for no data.')


def configured_targets() -> list[tuple[str, str]]:
    """The ``"place:purpose"`` pairs of ``TICKETOFFICE_URLS``, as form choices."""
    urls = app_settings.URLS
    if not isinstance(urls, dict):
        return []
    return [
        (key, key.replace(":", " / ", 1)) for key in urls if isinstance(key, str) and ":" in key
    ]


def default_lifetime() -> timedelta | None:
    """``TICKETOFFICE_DEFAULT_LIFETIME``, read as a duration (None: never expires)."""
    return as_lifetime(app_settings.DEFAULT_LIFETIME)


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

    def prepare_value(self, value: Any) -> Any:
        """Show no data as an empty box, not ``null`` or ``{}``."""
        if value is None or (isinstance(value, dict) and not value):
            return ""
        return super().prepare_value(value)

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
    """Issue a ticket: place and purpose, data, and an expiry, a lifetime or no expiry.

    With ``TICKETOFFICE_URLS`` the place and purpose are one choice among its
    keys (``target``), so that staff issue only tickets a view accepts.
    Without an expiry, a lifetime or "never expires", the ticket gets
    ``TICKETOFFICE_DEFAULT_LIFETIME``.
    """

    target = forms.ChoiceField(
        label=_("Place and purpose"),
        help_text=_("What the ticket is for, as configured in TICKETOFFICE_URLS."),
    )
    data = TicketDataField(label=_("Data"))  # type: ignore[assignment]
    lifetime = forms.CharField(
        label=_("Lifetime"),
        required=False,
        max_length=20,
    )
    never_expires = forms.BooleanField(
        label=_("Never expires"),
        required=False,
        help_text=_("Issue a ticket that stays valid until it is used or revoked."),
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        targets = configured_targets()
        if targets:
            target = self.fields["target"]
            assert isinstance(target, forms.ChoiceField)
            target.choices = [("", "---------"), *targets]
            for name in ("place", "purpose"):
                self.fields.pop(name, None)
        else:
            del self.fields["target"]
            for name in ("place", "purpose"):
                if name in self.fields:
                    self.fields[name].required = True
        try:
            default = default_lifetime()
        except ValueError:  # reported by check E005; the form still refuses to guess
            default = None
        lifetime = self.fields["lifetime"]
        lifetime.widget.attrs["placeholder"] = format_duration(default) if default else ""
        if default:
            lifetime.help_text = _(
                "A duration from now such as 90m, 2h, 3d or 1w. Leave it and the expiry empty "
                "for the default lifetime, %(default)s."
            ) % {"default": format_duration(default)}
        else:
            lifetime.help_text = _("A duration from now such as 90m, 2h, 3d or 1w.")

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
        """Set place and purpose; choose the expiry from one of the three ways to give it."""
        cleaned_data = super().clean() or {}
        target = cleaned_data.get("target")
        if target:
            place, _colon, purpose = target.partition(":")
            cleaned_data["place"], cleaned_data["purpose"] = place, purpose
            self.instance.place, self.instance.purpose = place, purpose
        lifetime = cleaned_data.get("lifetime")
        expiry = cleaned_data.get("expiry_datetime")
        never = cleaned_data.get("never_expires")
        if sum(bool(given) for given in (lifetime, expiry, never)) > 1:
            raise forms.ValidationError(
                _('Give an expiry, a lifetime or "never expires": only one of them.'),
                code="expiry_and_lifetime",
            )
        if never:
            cleaned_data["expiry_datetime"] = None
        else:
            self._clean_expiry(cleaned_data, lifetime, expiry)
        self._clean_uses(cleaned_data)
        return cleaned_data

    def _clean_expiry(
        self, cleaned_data: dict[str, Any], lifetime: timedelta | None, expiry: Any
    ) -> None:
        now = timezone.now()
        # A token cannot carry a later expiry (and the datetime would overflow).
        too_late = forms.ValidationError(
            _("The expiry must be before %(max)s."),
            code="too_late",
            params={"max": MAX_EXPIRY.date().isoformat()},
        )
        if lifetime is None and expiry is None and "lifetime" not in self.errors:
            try:
                lifetime = default_lifetime()
            except ValueError as error:
                raise forms.ValidationError(
                    _("TICKETOFFICE_DEFAULT_LIFETIME is unusable (%(error)s): give a lifetime."),
                    code="default_lifetime",
                    params={"error": error},
                ) from None
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

    def _clean_uses(self, cleaned_data: dict[str, Any]) -> None:
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


class TicketChangeForm(forms.ModelForm):
    """Edit an issued ticket: only its data; what the token binds is read-only."""

    data = TicketDataField(label=_("Data"))  # type: ignore[assignment]

    class Meta:
        model = Ticket
        fields = ["data"]
