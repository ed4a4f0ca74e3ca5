"""``manage.py ticketoffice_purge_events --older-than 90d``: delete old audit events.

Events recorded more than ``--older-than`` ago go, in batches along the
primary key, so memory stays bounded and no lock is held for long.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import router
from django.utils import timezone

from .....management.utils import ProgressBar, duration_argument, positive_int
from ...models import TicketEvent


class Command(BaseCommand):
    help = "Delete audit events older than --older-than (e.g. 90d), in batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            required=True,
            help="Keep events more recent than this: 12h, 90d, 52w...",
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Events per DELETE (default 1000)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        older_than = duration_argument(options["older_than"], "--older-than")
        batch_size = positive_int(options["batch_size"], "--batch-size")
        try:
            cutoff = timezone.now() - older_than
        except OverflowError:
            raise CommandError(f"--older-than: {options['older_than']!r} is too long.") from None
        events = TicketEvent.objects.using(router.db_for_write(TicketEvent))
        old = events.filter(time__lt=cutoff)
        when = cutoff.isoformat(timespec="seconds")
        if options["dry_run"]:
            count = old.count()
            self.stdout.write(
                f"Would delete {count} event{'s' if count != 1 else ''} before {when}."
            )
            return
        progress = ProgressBar(self.stderr, old.count() if self.stderr.isatty() else 0, "Purging")
        deleted = 0
        while True:
            # Primary keys of one batch, then a DELETE by key: no unbounded statement.
            pks = list(old.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not pks:
                break
            count, _ = events.filter(pk__in=pks).delete()
            deleted += count
            progress.advance(count)
            if len(pks) < batch_size:
                break
        progress.finish()
        self.stdout.write(f"Deleted {deleted} event{'s' if deleted != 1 else ''} before {when}.")
