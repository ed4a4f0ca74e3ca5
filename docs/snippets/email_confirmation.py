"""How-to: confirm a new email address before using it."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.shortcuts import get_object_or_404, render
from django.urls import path

from django_ticketoffice.decorators import invitation_required, stamp_invitation
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket


# [issue]
def send_confirmation(user, new_email):
    """Mail a link to ``new_email``; the address changes only when the link is confirmed."""
    _ticket, token = Ticket.objects.issue(
        "accounts",
        "confirm-email",
        data={"user_id": user.pk, "email": new_email},
        lifetime=timedelta(days=2),
    )
    link = ticket_url("confirm-email", token)
    send_mail("Confirm your email address", f"Confirm it here: {link}", None, [new_email])


# [/issue]


# [confirm]
@invitation_required(place="accounts", purpose="confirm-email")
@stamp_invitation(methods=["POST"])
def confirm_email(request):
    data = request.ticket.data
    if request.method == "POST":
        user = get_object_or_404(get_user_model(), pk=data["user_id"])
        user.email = data["email"]
        user.save(update_fields=["email"])
        return render(request, "accounts/email_confirmed.html", {"email": data["email"]})
    # GET only shows a button: a mail scanner that opens the link confirms nothing.
    return render(request, "accounts/confirm_email.html", {"email": data["email"]})


# [/confirm]

urlpatterns = [path("email/confirm/", confirm_email, name="confirm-email")]
