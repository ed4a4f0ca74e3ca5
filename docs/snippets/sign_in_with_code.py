"""How-to: sign in with a link or a short code, whichever the person uses first."""

from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.core.mail import send_mail
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from django_ticketoffice.code_views import CodeSignInView
from django_ticketoffice.decorators import invitation_required, stamp_invitation
from django_ticketoffice.links import ticket_url


# [code-view]
class SignInWithCode(CodeSignInView):
    place = "accounts"
    purpose = "sign-in"
    success_url = "sign-in-confirm"  # a view under @invitation_required("accounts", "sign-in")

    def ticket_data(self, form):
        user = (
            get_user_model()
            .objects.filter(email__iexact=form.cleaned_data["email"], is_active=True)
            .first()
        )
        # None: no account. The page looks the same, and no code is sent.
        return None if user is None else {"user_id": user.pk}

    def send_code(self, form, ticket, token, code):
        link = ticket_url("sign-in-confirm", token)
        send_mail(
            "Your sign-in code",
            f"Your code is {code}. Or follow this link: {link}\n"
            "Both work once, for 10 minutes, and only for you.",
            None,
            [form.cleaned_data["email"]],
        )


# [/code-view]


# [confirm]
@invitation_required(place="accounts", purpose="sign-in")
@stamp_invitation(methods=["POST"])
def sign_in_confirm(request):
    user = get_object_or_404(get_user_model(), pk=request.ticket.data["user_id"], is_active=True)
    if request.method == "POST":
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("signed-in")
    # GET only shows a button: a mail scanner that opens the link signs nobody in.
    return render(request, "accounts/sign_in_confirm.html", {"user": user})


@login_required
def signed_in(request):
    return render(request, "accounts/signed_in.html")


# [/confirm]

urlpatterns = [
    path("sign-in/", SignInWithCode.as_view(), name="sign-in"),
    path("sign-in/confirm/", sign_in_confirm, name="sign-in-confirm"),
    path("sign-in/done/", signed_in, name="signed-in"),
]
