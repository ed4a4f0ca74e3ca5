"""``manage.py clean_tickets``: delete tickets that stopped being useful long ago.

A ticket goes once it expired, was used or was revoked more than
``--older-than`` ago (default 30 days). The deletion walks the primary key in
batches, so memory stays bounded and no lock is held for long, whatever the
size of the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from ...models import Ticket, TicketQuerySet
from ..utils import ProgressBar, accept_negative_values, duration_argument, positive_int


def finished_before(cutoff: datetime) -> TicketQuerySet:
    """Tickets that expired, were used or were revoked before ``cutoff``."""
    return Ticket.objects.get_queryset().filter(
        Q(expiry_datetime__lt=cutoff)
        | Q(usage_datetime__lt=cutoff)
        | Q(revocation_datetime__lt=cutoff)
    )


class Command(BaseCommand):
    help = (
        "Delete tickets that expired, were used or were revoked more than --older-than ago "
        "(default 30d)."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        return accept_negative_values(super().create_parser(prog_name, subcommand, **kwargs))

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            default="30d",
            help="Keep tickets that finished more recently: a positive duration such as 12h, "
            "30d or 1w (default 30d).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Tickets per DELETE (default 1000)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        older_than = duration_argument(options["older_than"], "--older-than")
        batch_size = positive_int(options["batch_size"], "--batch-size")
        try:
            cutoff = timezone.now() - older_than
        except OverflowError:
            raise CommandError(f"--older-than: {options['older_than']!r} is too long.") from None
        candidates = finished_before(cutoff)
        if options["dry_run"]:
            count = candidates.count()
            self.stdout.write(
                f"Would delete {count} ticket{'s' if count != 1 else ''} finished before "
                f"{cutoff.isoformat(timespec='seconds')} (dry run)."
            )
            return
        # Counting costs a scan: only pay it when someone watches the bar.
        total = candidates.count() if self.stderr.isatty() else 0
        progress = ProgressBar(self.stderr, total, "Deleting tickets")
        deleted = 0
        last_pk: int | None = None
        while True:
            window = candidates if last_pk is None else candidates.filter(pk__gt=last_pk)
            # The pk of the batch's last row bounds the range; only ints are kept in memory.
            upper = list(window.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not upper:
                break
            count, _ = window.filter(pk__lte=upper[-1]).delete()
            deleted += count
            progress.advance(count)
            last_pk = upper[-1]
            if len(upper) < batch_size:
                break
        progress.finish()
        self.stdout.write(
            f"Deleted {deleted} ticket{'s' if deleted != 1 else ''} finished before "
            f"{cutoff.isoformat(timespec='seconds')}."
        )
