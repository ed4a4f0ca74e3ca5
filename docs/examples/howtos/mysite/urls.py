from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Each how-to's module ends with its own urlpatterns.
    path("", include("accounts.password_reset_django")),
    path("", include("accounts.password_reset")),
    path("", include("accounts.email_confirmation")),
    # The sign-in with a code, behind the throttle of the attempt-limits guide
    # (without the throttle: include("accounts.sign_in_with_code")).
    path("", include("accounts.throttle")),
    path("", include("newsletter.unsubscribe")),
    path("", include("api.api_clients")),
    path("", include("api.api_drf")),
    path("", include("api.api_ninja")),
    path("", include("reports.multi_use")),
]
