"""Helpers shared by the management commands: argument parsing and a progress bar."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser, OutputWrapper
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ..utils import loads_json, parse_duration

MAX_LABEL_LENGTH = 50  # Ticket.place and Ticket.purpose


# What argparse takes for a negative number rather than an option: "-3", "-3d", "-1.5".
_NEGATIVE_VALUE = re.compile(r"^-\d+(\.\d+)?[smhdw]?$|^-\.\d+$")


def accept_negative_values(parser: CommandParser) -> CommandParser:
    """Let ``--older-than -3d`` reach the command, which then says what is wrong.

    argparse reads ``-3d`` as an unknown option and answers "expected one
    argument"; none of these commands has an option that looks like a number.
    """
    parser._negative_number_matcher = _NEGATIVE_VALUE
    return parser


def duration_argument(value: str, option: str) -> timedelta:
    """Parse ``90m``/``2h``/``3d``/``1w`` or raise a CommandError naming ``option``."""
    if value.strip().startswith("-"):
        raise CommandError(
            f"{option}: the duration must be positive, got {value!r}; use e.g. 90m, 2h, 3d or 1w."
        )
    try:
        duration = parse_duration(value)
    except ValueError as error:
        raise CommandError(f"{option}: {error}") from None
    if duration <= timedelta(0):
        raise CommandError(
            f"{option}: the duration must be positive, got {value!r}; use e.g. 90m, 2h, 3d or 1w."
        )
    return duration


def json_argument(value: str, option: str) -> Any:
    """Parse a JSON document or raise a CommandError with the parser's complaint."""
    try:
        return loads_json(value)
    except ValueError as error:
        raise CommandError(f"{option} is not valid JSON: {error}.") from None


def label_argument(value: str, option: str) -> str:
    """Check a place or purpose: at most 50 printable characters, no edge whitespace."""
    if len(value) > MAX_LABEL_LENGTH:
        raise CommandError(f"{option} is longer than {MAX_LABEL_LENGTH} characters: {value!r}.")
    if value != value.strip() or not all(char.isprintable() for char in value):
        raise CommandError(
            f"{option} must be printable text without leading or trailing spaces: {value!r}."
        )
    return value


def uuid_arguments(values: list[str]) -> list[uuid.UUID]:
    """Parse ticket uuids (hyphens optional) or name every malformed one."""
    parsed: list[uuid.UUID] = []
    malformed: list[str] = []
    for value in values:
        try:
            parsed.append(uuid.UUID(value.strip()))
        except ValueError:
            malformed.append(value)
    if malformed:
        raise CommandError("Malformed ticket uuid: " + ", ".join(repr(v) for v in malformed))
    return parsed


def datetime_argument(value: str, option: str) -> datetime:
    """Parse an ISO date or datetime; naive values are in the current time zone."""
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            if day is not None:
                parsed = datetime(day.year, day.month, day.day)
    except ValueError:
        parsed = None
    if parsed is None:
        raise CommandError(
            f"{option}: {value!r} is not a date or datetime such as 2025-01-31 or 2025-01-31T18:00."
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def positive_int(value: int, option: str) -> int:
    """Refuse zero and negative counts and batch sizes."""
    if value <= 0:
        raise CommandError(f"{option} must be a positive integer, got {value}.")
    return value


class ProgressBar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    width = 30

    def __init__(
        self, stream: OutputWrapper, total: int, label: str, *, enabled: bool = True
    ) -> None:
        self.stream = stream
        self.total = max(total, 0)
        self.label = label
        self.done = 0
        self.enabled = enabled and stream.isatty() and self.total > 0

    def advance(self, count: int) -> None:
        """Count ``count`` more items done and redraw."""
        self.done += count
        if not self.enabled:
            return
        ratio = min(self.done / self.total, 1.0)
        filled = int(ratio * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {self.done}/{self.total} ({ratio:.0%})", ending=""
        )
        self.stream.flush()

    def finish(self) -> None:
        """End the bar's line."""
        if self.enabled and self.done:
            self.stream.write("")
