"""How-to: tickets behind Django's own password-reset views (the URLs give them the generator)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from django_ticketoffice.contrib.auth import TicketTokenGenerator

# [urls]
reset_tokens = TicketTokenGenerator()

urlpatterns = [
    # Django's two views that make and check tokens, given the ticket generator...
    path(
        "accounts/password_reset/",
        auth_views.PasswordResetView.as_view(token_generator=reset_tokens),
        name="password_reset",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(token_generator=reset_tokens),
        name="password_reset_confirm",
    ),
    # ...then the rest of Django's account URLs, unchanged.
    path("accounts/", include("django.contrib.auth.urls")),
]
# [/urls]
