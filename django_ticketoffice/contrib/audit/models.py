"""The audit trail's one table: events in the life of tickets."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

ISSUED = "issued"
ADMITTED = "admitted"
USED = "used"
REFUSED = "refused"
REVOKED = "revoked"
LOCKED = "locked"

KIND_CHOICES = (
    (ISSUED, _("issued")),
    (ADMITTED, _("admitted")),
    (USED, _("used")),
    (REFUSED, _("refused")),
    (REVOKED, _("revoked")),
    (LOCKED, _("locked")),
)
# Kinds that a flood could repeat: one row per ticket, kind, reason and window,
# with a count. The others happen at most once per ticket.
AGGREGATED_KINDS = frozenset({ADMITTED, REFUSED})


class TicketEvent(models.Model):
    """Something that happened to one ticket, from one client.

    ``ticket`` holds the ticket's uuid without a database constraint: the
    trail outlives tickets deleted by ``clean_tickets``. Admissions and
    refusals are counted per ticket, reason and window (``window_start``,
    ``count``); the client is the first one seen in the window.
    """

    ticket = models.ForeignKey(
        "django_ticketoffice.Ticket",
        to_field="uuid",
        db_column="ticket_uuid",
        db_constraint=False,
        db_index=False,  # the unique constraint's index starts with it
        on_delete=models.DO_NOTHING,
        related_name="audit_events",
        verbose_name=_("ticket"),
    )
    place = models.CharField(_("place"), max_length=50, blank=True)
    purpose = models.CharField(_("purpose"), max_length=50, blank=True)
    kind = models.CharField(_("event"), max_length=16, choices=KIND_CHOICES)
    reason = models.CharField(_("reason"), max_length=32, blank=True)
    time = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    window_start = models.DateTimeField(_("counted from"), null=True, blank=True)
    count = models.PositiveIntegerField(_("count"), default=1)
    client_ip = models.CharField(_("client IP"), max_length=64, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=255, blank=True)
    actor = models.CharField(_("staff"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("ticket event")
        verbose_name_plural = _("ticket events")
        ordering = ("-time", "-pk")
        constraints = [
            # NULL windows (events that are not counted) never collide.
            models.UniqueConstraint(
                fields=["ticket", "kind", "reason", "window_start"],
                name="ticketoffice_audit_one_row_per_window",
            )
        ]

    def __str__(self) -> str:
        label = f"{self.kind} ({self.reason})" if self.reason else self.kind
        return f"{label} {self.ticket_id} at {self.time:%Y-%m-%d %H:%M:%S}"
