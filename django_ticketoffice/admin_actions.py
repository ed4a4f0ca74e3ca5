"""Revoke and re-issue from the admin, each behind a confirmation page.

Like Django's "delete" action and button, revoking and re-issuing first show
what they will do, and act only on the confirming POST. Each revoked ticket
gets a history entry (:class:`~django.contrib.admin.models.LogEntry`); a very
large selection gets one summary entry. Re-issuing needs the add and the
revoke permissions, since it does both. The pages themselves are in
:mod:`django_ticketoffice.admin_pages`.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import quote, unquote
from django.contrib.auth import get_permission_codename
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .admin_pages import Issued, TicketPagesMixin
from .exceptions import TicketUsedError
from .models import Ticket, TicketQuerySet


class TicketActionsMixin(TicketPagesMixin):
    """Revoke and re-issue for :class:`~django_ticketoffice.admin.TicketAdmin`."""

    # Up to this many revoked tickets get one history entry each; more get one summary.
    revoke_log_limit = 100
    # Re-issuing shows every new credential on one page: keep that page readable.
    reissue_limit = 100

    # Permissions --------------------------------------------------------------

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Staff need ``django_ticketoffice.revoke_ticket`` to revoke."""
        codename = get_permission_codename("revoke", self.opts)
        return bool(request.user.has_perm(f"{self.opts.app_label}.{codename}"))

    def has_reissue_permission(self, request: HttpRequest) -> bool:
        """Re-issuing revokes and adds: it needs both permissions."""
        return self.has_add_permission(request) and self.has_revoke_permission(request)  # type: ignore[attr-defined]

    # URLs ------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        """Add ``<id>/revoke/`` and ``<id>/reissue/``, before the admin's catch-all."""
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/revoke/", view(self.revoke_view), name=f"{prefix}_revoke"),
            path("<path:object_id>/reissue/", view(self.reissue_view), name=f"{prefix}_reissue"),
            *super().get_urls(),  # type: ignore[misc]
        ]

    # Revoking ----------------------------------------------------------------------

    @admin.action(description=_("Revoke selected tickets"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> HttpResponse | None:
        """Confirm, then revoke the selection in the database and stamp the cache after commit."""
        selected = queryset.count()
        revocable = queryset.filter(usage_datetime__isnull=True, revocation_datetime__isnull=True)
        if request.POST.get("post") != "yes":
            count = revocable.count()
            if not count:
                # Record it all the same on tickets whose use is in flight: if their
                # view fails, they stay revoked (see Ticket.revoke()).
                assert isinstance(queryset, TicketQuerySet)
                queryset.revoke(request=request)
                self.message_user(  # type: ignore[attr-defined]
                    request,
                    gettext("Nothing to revoke: the selected tickets are already used or revoked."),
                    messages.WARNING,
                )
                return None
            return self._confirmation(
                request, "revoke", revocable, count=count, skipped=selected - count
            )
        limit = self.revoke_log_limit
        # The whole selection: revoke() also records the revocation on tickets
        # whose use is in flight, so that a failing view cannot revive them.
        open_tickets = queryset.filter(revocation_datetime__isnull=True)
        pks = list(open_tickets.order_by("pk").values_list("pk", flat=True)[: limit + 1])
        if len(pks) <= limit:
            revoked = 0
            # One by one: each history entry names a ticket that this request revoked.
            for ticket in Ticket.objects.filter(pk__in=pks).order_by("pk"):
                if ticket.revoke(request=request):
                    self.log_change(request, ticket, gettext("Revoked."))  # type: ignore[attr-defined]
                    revoked += 1
        else:
            assert isinstance(open_tickets, TicketQuerySet)
            revoked = open_tickets.revoke(request=request)
            self._log_summary(request, revoked)
        skipped = max(selected - revoked, 0)
        message = ngettext(
            "%(count)d ticket was revoked.", "%(count)d tickets were revoked.", revoked
        ) % {"count": revoked}
        if skipped:
            message += " " + ngettext(
                "%(count)d was skipped: already used or revoked.",
                "%(count)d were skipped: already used or revoked.",
                skipped,
            ) % {"count": skipped}
        self.message_user(request, message, messages.SUCCESS if revoked else messages.WARNING)  # type: ignore[attr-defined]
        return None

    def _log_summary(self, request: HttpRequest, revoked: int) -> None:
        """One history entry for a revocation too large to log ticket by ticket."""
        LogEntry.objects.create(
            user_id=request.user.pk or 0,
            content_type_id=ContentType.objects.get_for_model(Ticket, for_concrete_model=False).pk,
            object_id=None,
            object_repr=ngettext("%(count)d ticket", "%(count)d tickets", revoked)
            % {"count": revoked},
            action_flag=CHANGE,
            change_message=ngettext(
                "Revoked %(count)d ticket in one action.",
                "Revoked %(count)d tickets in one action.",
                revoked,
            )
            % {"count": revoked},
        )

    def _get_open_ticket(self, request: HttpRequest, object_id: str) -> Ticket:
        obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if obj is None:
            raise Http404(gettext("No ticket with this id."))
        if not self.has_view_or_change_permission(request, obj):  # type: ignore[attr-defined]
            raise PermissionDenied
        return obj

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Confirm (GET), then revoke one ticket (POST): the change page's "Revoke" button."""
        obj = self._get_open_ticket(request, object_id)
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        change_url = self._url("change", quote(obj.pk))
        if obj.usage_datetime is not None or obj.revocation_datetime is not None:
            if request.method == "POST" and obj.revocation_datetime is None:
                # Perhaps a use in flight: record the revocation all the same
                # (revoke() says False), so that a failing view cannot revive it.
                obj.revoke(request=request)
            self.message_user(  # type: ignore[attr-defined]
                request,
                gettext("The ticket was already used or revoked: nothing changed."),
                messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        if request.method != "POST":
            one = Ticket.objects.filter(pk=obj.pk).with_status()
            return self._confirmation(request, "revoke", one, count=1, skipped=0, single=obj)
        if obj.revoke(request=request):
            self.log_change(request, obj, gettext("Revoked."))  # type: ignore[attr-defined]
            self.message_user(request, gettext("The ticket was revoked."), messages.SUCCESS)  # type: ignore[attr-defined]
        else:
            self.message_user(  # type: ignore[attr-defined]
                request,
                gettext("The ticket was already used or revoked: nothing changed."),
                messages.WARNING,
            )
        return HttpResponseRedirect(change_url)

    # Re-issuing ------------------------------------------------------------------

    def _reissue(self, request: HttpRequest, old: Ticket) -> Issued | None:
        try:
            new, token = old.reissue(request=request)
        except TicketUsedError:
            return None
        self.log_change(  # type: ignore[attr-defined]
            request, old, gettext("Revoked, and re-issued as %(uuid)s.") % {"uuid": new.uuid}
        )
        self.log_addition(  # type: ignore[attr-defined]
            request, new, gettext("Re-issued from %(uuid)s.") % {"uuid": old.uuid}
        )
        return self.issued(request, new, token, previous=old)

    @admin.action(description=_("Re-issue selected tickets"), permissions=["reissue"])
    def reissue(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> HttpResponse | None:
        """Confirm, then revoke each ticket and issue a fresh one; show the new links once."""
        selected = queryset.count()
        open_tickets = queryset.filter(usage_datetime__isnull=True)
        count = open_tickets.count()
        if not count:
            self.message_user(  # type: ignore[attr-defined]
                request,
                gettext("Nothing to re-issue: the selected tickets are already used."),
                messages.WARNING,
            )
            return None
        if count > self.reissue_limit:
            self.message_user(  # type: ignore[attr-defined]
                request,
                gettext(
                    "Re-issue at most %(limit)d tickets at once (%(count)d selected). "
                    "For mailings, the ticketoffice_issue command issues tickets in bulk."
                )
                % {"limit": self.reissue_limit, "count": count},
                messages.ERROR,
            )
            return None
        if request.POST.get("post") != "yes":
            return self._confirmation(
                request, "reissue", open_tickets, count=count, skipped=selected - count
            )
        issued = []
        for old in Ticket.objects.filter(pk__in=open_tickets.values("pk")).order_by("pk"):
            done = self._reissue(request, old)
            if done is not None:
                issued.append(done)
        if not issued:
            self.message_user(  # type: ignore[attr-defined]
                request,
                gettext("Nothing to re-issue: the selected tickets are already used."),
                messages.WARNING,
            )
            return None
        title = ngettext(
            "%(count)d ticket re-issued", "%(count)d tickets re-issued", len(issued)
        ) % {"count": len(issued)}
        return self.issued_response(request, issued, title)

    def reissue_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Confirm (GET), then re-issue one ticket (POST) and show its new link once."""
        obj = self._get_open_ticket(request, object_id)
        if not self.has_reissue_permission(request):
            raise PermissionDenied
        change_url = self._url("change", quote(obj.pk))
        used = gettext("The ticket was already used: it is not re-issued.")
        if obj.usage_datetime is not None:
            self.message_user(request, used, messages.WARNING)  # type: ignore[attr-defined]
            return HttpResponseRedirect(change_url)
        if request.method != "POST":
            one = Ticket.objects.filter(pk=obj.pk).with_status()
            return self._confirmation(request, "reissue", one, count=1, skipped=0, single=obj)
        issued = self._reissue(request, obj)
        if issued is None:
            self.message_user(request, used, messages.WARNING)  # type: ignore[attr-defined]
            return HttpResponseRedirect(change_url)
        return self.issued_response(request, [issued], gettext("Ticket re-issued"))
