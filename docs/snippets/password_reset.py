"""How-to: a password reset built on tickets."""

from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import SetPasswordForm
from django.core.mail import send_mail
from django.db import transaction
from django.shortcuts import get_object_or_404, render
from django.urls import path

from django_ticketoffice.decorators import invitation_required, stamp_invitation
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket


# [issue]
def send_reset_link(user):
    with transaction.atomic():
        # Only the newest link works: revoke the ones sent before.
        Ticket.objects.filter(
            place="accounts", purpose="password-reset", data__user_id=user.pk
        ).valid().revoke()
        _ticket, token = Ticket.objects.issue(
            "accounts", "password-reset", data={"user_id": user.pk}, lifetime=timedelta(hours=1)
        )
    link = ticket_url("password-reset-confirm", token)
    send_mail("Reset your password", f"Choose a new password: {link}", None, [user.email])


class ResetRequestForm(forms.Form):
    email = forms.EmailField()


def reset_request(request):
    form = ResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        users = get_user_model().objects.filter(
            email__iexact=form.cleaned_data["email"], is_active=True
        )
        for user in users:
            send_reset_link(user)
        # The same answer whether or not the address is known.
        return render(request, "accounts/reset_sent.html")
    return render(request, "accounts/reset_request.html", {"form": form})


# [/issue]


# [confirm]
@invitation_required(place="accounts", purpose="password-reset")
@stamp_invitation(methods=["POST"])
def reset_confirm(request):
    user = get_object_or_404(get_user_model(), pk=request.ticket.data["user_id"], is_active=True)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            form.save()  # the ticket is used when this response (200) leaves the view
            return render(request, "accounts/reset_done.html")
        # 400: the claim is released, so the visitor can correct the form.
        return render(request, "accounts/reset_confirm.html", {"form": form}, status=400)
    return render(request, "accounts/reset_confirm.html", {"form": form})


# [/confirm]

urlpatterns = [
    path("reset/", reset_request, name="password-reset"),
    path("reset/confirm/", reset_confirm, name="password-reset-confirm"),
]
