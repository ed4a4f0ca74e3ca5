"""Views of the demo site: an invitation to the museum, a password reset, and a sign-in
with a link or a code."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import SetPasswordForm
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from django_ticketoffice.code_views import CodeSignInView
from django_ticketoffice.decorators import invitation_required, stamp_invitation
from django_ticketoffice.links import ticket_url
from django_ticketoffice.models import Ticket
from django_ticketoffice.views import protect_response

from .office import issue_password_reset


def home(request: HttpRequest) -> HttpResponse:
    """The museum's front desk: what there is to try."""
    return render(request, "demo/home.html")


# GET only shows the invitation (link scanners may open it without harm);
# the POST of "Confirm my visit" consumes the ticket, exactly once.
@invitation_required(place="museum", purpose="visit")
@stamp_invitation(methods=["POST"])
def visit(request: HttpRequest) -> HttpResponse:
    """Greet the invited guest, and confirm the visit on POST."""
    guest = request.ticket.data.get("first_name") or "guest"  # type: ignore[attr-defined]
    if request.method == "POST":
        return render(request, "demo/visit_confirmed.html", {"guest": guest})
    return render(request, "demo/visit.html", {"guest": guest})


class PasswordResetRequestForm(forms.Form):
    """Ask for a reset link by username."""

    username = forms.CharField(max_length=150)


def password_reset_request(request: HttpRequest) -> HttpResponse:
    """Issue a password-reset ticket and "email" its link (to the console)."""
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user_model = get_user_model()
        user = user_model.objects.filter(
            username=form.cleaned_data["username"], is_active=True
        ).first()
        link = None
        if user is not None:
            link = issue_password_reset(user)
            send_mail(
                "Reset your password at the museum",
                f"Follow this link within an hour to choose a new password:\n\n{link}\n",
                None,
                [user.email or f"{user.get_username()}@example.com"],
            )
        # A real site shows the same page whether or not the account exists,
        # and never shows the link; the demo shows it so that you can follow it.
        response = render(request, "demo/reset_sent.html", {"link": link})
        return protect_response(response)
    return render(request, "demo/reset_request.html", {"form": form})


@invitation_required(place="accounts", purpose="password-reset")
@stamp_invitation(methods=["POST"])
def password_reset_confirm(request: HttpRequest) -> HttpResponse:
    """Let the holder of a reset ticket choose a new password; the POST consumes it."""
    user = get_object_or_404(
        get_user_model(),
        pk=request.ticket.data.get("user_id"),  # type: ignore[attr-defined]
        is_active=True,
    )
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            return render(request, "demo/reset_done.html", {"username": user.get_username()})
        # A response of 400 or more releases the claim: the link still works.
        return render(request, "demo/reset_confirm.html", {"form": form}, status=400)
    return render(request, "demo/reset_confirm.html", {"form": form})


class SignInWithCode(CodeSignInView):
    """Ask for an email address; send a link and a code; take the code in this browser."""

    place = "accounts"
    purpose = "sign-in"
    success_url = "sign-in-confirm"
    template_name = "demo/sign_in_code.html"

    def ticket_data(self, form: forms.Form) -> dict[str, Any] | None:
        """The account behind the address, or None (the same page, no mail)."""
        user = (
            get_user_model()
            .objects.filter(email__iexact=form.cleaned_data["email"], is_active=True)
            .first()
        )
        return None if user is None else {"user_id": user.pk}

    def send_code(self, form: forms.Form, ticket: Ticket, token: str, code: str) -> None:
        """ "Email" the code and the link (to the console)."""
        link = ticket_url("sign-in-confirm", token)
        send_mail(
            "Your sign-in code for the museum",
            f"Your code is {code}. Or follow this link: {link}\n"
            "Both work once, within 10 minutes, and the code only in the browser that asked.",
            None,
            [form.cleaned_data["email"]],
        )
        # A real site never shows these; the demo does, so that you can try both.
        self.demo_mail = {"code": code, "link": link}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """Add the demo's mailbox to the page that follows the request."""
        context = super().get_context_data(**kwargs)
        context["demo_mail"] = getattr(self, "demo_mail", None)
        return context


# The code form (or the link) admits the ticket here; the POST of "Sign in"
# consumes it, so a mail scanner that opens the link signs nobody in.
@invitation_required(place="accounts", purpose="sign-in")
@stamp_invitation(methods=["POST"])
def sign_in_confirm(request: HttpRequest) -> HttpResponse:
    """Offer to sign in as the ticket's user, and do it on POST."""
    user = get_object_or_404(
        get_user_model(),
        pk=request.ticket.data.get("user_id"),  # type: ignore[attr-defined]
        is_active=True,
    )
    if request.method == "POST":
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return render(request, "demo/signed_in.html", {"username": user.get_username()})
    return render(request, "demo/sign_in_confirm.html", {"username": user.get_username()})
