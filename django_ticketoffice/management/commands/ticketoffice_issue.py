"""``manage.py ticketoffice_issue``: issue tickets and print their tokens or links."""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.urls import NoReverseMatch
from django.utils import timezone

from ...conf import app_settings
from ...links import ticket_url
from ...models import Ticket, check_limits
from ...signals import ticket_issued
from ...tokens import MAX_EXPIRY, make_token
from ...utils import as_lifetime, format_duration
from ..utils import (
    ProgressBar,
    accept_negative_values,
    duration_argument,
    json_argument,
    label_argument,
    positive_int,
)

COLUMNS = ("uuid", "place", "purpose", "expiry", "token", "url")


class Command(BaseCommand):
    help = (
        "Issue tickets and print their credentials: one token (or one-link URL) per line, "
        "JSON or CSV. Each credential is printed once and cannot be recovered."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        return accept_negative_values(super().create_parser(prog_name, subcommand, **kwargs))

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--place", help="Where the tickets are used (required).")
        parser.add_argument("--purpose", help="What the tickets grant (required).")
        parser.add_argument("--data", help="JSON data of every ticket, e.g. '{\"seat\": 12}'.")
        expiry = parser.add_mutually_exclusive_group()
        expiry.add_argument(
            "--lifetime",
            help="Expire after 90m, 2h, 3d, 1w... (default: TICKETOFFICE_DEFAULT_LIFETIME, "
            "7 days unless configured).",
        )
        expiry.add_argument(
            "--no-expiry", action="store_true", help="Issue tickets that never expire."
        )
        parser.add_argument(
            "--url",
            help="URL name or path of the view: print one-link URLs. Default: the entry of "
            'TICKETOFFICE_URLS for "place:purpose", if any.',
        )
        parser.add_argument(
            "--max-uses",
            default="1",
            help='Stamped uses each ticket allows (default 1), or "unlimited" (needs --lifetime).',
        )
        parser.add_argument(
            "--max-attempts",
            type=int,
            help="Failed guesses of a code or password that lock a ticket (1 to 100; "
            "default: TICKETOFFICE_MAX_ATTEMPTS).",
        )
        parser.add_argument("--count", type=int, default=1, help="How many tickets (default 1).")
        parser.add_argument(
            "--format", choices=["text", "json", "csv"], default="text", help="Output format."
        )
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Tickets per INSERT (default 500)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["place"] is None or options["purpose"] is None:
            raise CommandError(
                "Give --place and --purpose: what the tickets are for, as the view's "
                '@invitation_required says (use --purpose "" for an empty purpose).'
            )
        place = label_argument(options["place"], "--place")
        purpose = label_argument(options["purpose"], "--purpose")
        data = {} if options["data"] is None else json_argument(options["data"], "--data")
        lifetime = self._lifetime(options)
        count = positive_int(options["count"], "--count")
        batch_size = positive_int(options["batch_size"], "--batch-size")
        url_name = options["url"] or self._configured_url(place, purpose)
        if url_name:
            try:  # Resolve once before writing anything.
                ticket_url(url_name, "-")
            except NoReverseMatch:
                raise CommandError(
                    f"--url: {url_name!r} is neither a URL name nor a path."
                ) from None
        now = timezone.now()
        if lifetime is not None and lifetime > MAX_EXPIRY - now:
            raise CommandError(
                f"--lifetime: tokens carry expiries up to {MAX_EXPIRY.date()}, "
                f"{options['lifetime']!r} goes beyond."
            )
        expiry = now + lifetime if lifetime is not None else None
        max_uses = self._max_uses(options["max_uses"], lifetime)
        max_attempts = options["max_attempts"]
        try:
            check_limits(max_uses, max_attempts, expiry)
        except ValueError as error:
            raise CommandError(f"--max-attempts: {error}") from None

        write = {"text": self._write_text, "json": self._write_json, "csv": self._write_csv}
        limits = {"max_uses": max_uses, "max_attempts": max_attempts}
        rows = self._issue(place, purpose, data, expiry, limits, url_name, count, batch_size)
        write[options["format"]](rows)

    def _lifetime(self, options: dict[str, Any]) -> Any:
        """The --lifetime, none with --no-expiry, else TICKETOFFICE_DEFAULT_LIFETIME."""
        if options["no_expiry"]:
            return None
        if options["lifetime"] is not None:
            return duration_argument(options["lifetime"], "--lifetime")
        try:
            lifetime = as_lifetime(app_settings.DEFAULT_LIFETIME)
        except ValueError as error:
            raise CommandError(f"TICKETOFFICE_DEFAULT_LIFETIME: {error}.") from None
        if lifetime is not None:
            options["lifetime"] = format_duration(lifetime)
        return lifetime

    def _max_uses(self, value: str, lifetime: Any) -> int | None:
        if value.strip().lower() == "unlimited":
            if lifetime is None:
                raise CommandError("--max-uses unlimited needs a --lifetime.")
            return None
        try:
            return positive_int(int(value), "--max-uses")
        except ValueError:
            raise CommandError(
                f'--max-uses must be a positive integer or "unlimited", got {value!r}.'
            ) from None

    def _configured_url(self, place: str, purpose: str) -> str | None:
        urls = app_settings.URLS
        return urls.get(f"{place}:{purpose}") if isinstance(urls, dict) else None

    def _issue(
        self,
        place: str,
        purpose: str,
        data: Any,
        expiry: datetime | None,
        limits: dict[str, Any],
        url_name: str | None,
        count: int,
        batch_size: int,
    ) -> Iterator[dict[str, str]]:
        """Create the tickets batch by batch and yield one row per ticket."""
        # A progress bar would garble tokens printed on the same terminal.
        progress = ProgressBar(
            self.stderr, count, "Issuing tickets", enabled=not self.stdout.isatty()
        )
        remaining = count
        while remaining:
            size = min(batch_size, remaining)
            batch = []
            for _ in range(size):
                ticket = Ticket(
                    place=place,
                    purpose=purpose,
                    data=copy.deepcopy(data),
                    expiry_datetime=expiry,
                    **limits,
                )
                batch.append((ticket, ticket.generate_password()))
            with transaction.atomic():
                Ticket.objects.bulk_create([ticket for ticket, _ in batch])
                for ticket, _ in batch:
                    transaction.on_commit(partial(ticket_issued.send, sender=Ticket, ticket=ticket))
            for ticket, password in batch:
                token = make_token(ticket, password)
                yield {
                    "uuid": str(ticket.uuid),
                    "place": place,
                    "purpose": purpose,
                    "expiry": expiry.isoformat() if expiry else "",
                    "token": token,
                    "url": ticket_url(url_name, token) if url_name else "",
                }
            remaining -= size
            progress.advance(size)
        progress.finish()

    def _write_text(self, rows: Iterator[dict[str, str]]) -> None:
        for row in rows:
            self.stdout.write(row["url"] or row["token"])

    def _write_json(self, rows: Iterator[dict[str, str]]) -> None:
        # Streamed, so that a large count never sits in memory.
        self.stdout.write("[", ending="")
        separator = "\n"
        for row in rows:
            self.stdout.write(separator + json.dumps(row), ending="")
            separator = ",\n"
        self.stdout.write("\n]")

    def _write_csv(self, rows: Iterator[dict[str, str]]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            self.stdout.write(buffer.getvalue(), ending="")
            buffer.seek(0)
            buffer.truncate()
