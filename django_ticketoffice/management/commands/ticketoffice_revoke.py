"""``manage.py ticketoffice_revoke``: revoke tickets by uuid or by place and purpose."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...models import Ticket
from ..utils import datetime_argument, label_argument, positive_int, uuid_arguments


class Command(BaseCommand):
    help = (
        "Revoke tickets, in the database and in the stamp cache: give their uuids, or "
        "--place and --purpose (optionally --issued-before). Used or already revoked tickets "
        "are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("uuids", nargs="*", metavar="UUID", help="Tickets to revoke.")
        parser.add_argument("--place", help="Revoke the tickets of this place...")
        parser.add_argument("--purpose", help="...and this purpose (both required).")
        parser.add_argument(
            "--issued-before",
            help="Only tickets created before this date or datetime (ISO 8601).",
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Tickets per UPDATE (default 1000)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        uuids = uuid_arguments(options["uuids"])
        place, purpose = options["place"], options["purpose"]
        by_label = place is not None or purpose is not None
        if uuids and by_label:
            raise CommandError("Give ticket uuids, or --place and --purpose, not both.")
        if not uuids and not by_label:
            raise CommandError("Give ticket uuids, or --place and --purpose.")
        if by_label and (place is None or purpose is None):
            raise CommandError(
                '--place and --purpose go together (use --purpose "" for an empty purpose).'
            )
        if options["issued_before"] and not by_label:
            raise CommandError("--issued-before needs --place and --purpose.")
        batch_size = positive_int(options["batch_size"], "--batch-size")

        queryset = Ticket.objects.get_queryset()
        if uuids:
            queryset = queryset.filter(uuid__in=uuids)
            found = queryset.count()
        else:
            queryset = queryset.filter(
                place=label_argument(place, "--place"),
                purpose=label_argument(purpose, "--purpose"),
            )
            if options["issued_before"]:
                before = datetime_argument(options["issued_before"], "--issued-before")
                queryset = queryset.filter(creation_datetime__lt=before)
            found = queryset.count()
        if not found:
            what = (
                "No ticket has these uuids"
                if uuids
                else f"No ticket has place {place!r} and purpose {purpose!r}"
                + (" and was issued before that date" if options["issued_before"] else "")
            )
            self.stdout.write(f"{what}: nothing was revoked.")
            return
        revoked = queryset.revoke(batch_size=batch_size)
        skipped = max(found - revoked, 0)
        message = f"Revoked {revoked} ticket{'s' if revoked != 1 else ''}"
        message += f", skipped {skipped} (already used or revoked)"
        missing = len(set(uuids)) - found if uuids else 0
        if missing:
            message += f", {missing} not found"
        self.stdout.write(message + ".")
