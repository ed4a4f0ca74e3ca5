from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Each how-to's module ends with its own urlpatterns.
    path("", include("accounts.password_reset")),
    path("", include("accounts.email_confirmation")),
    path("", include("newsletter.unsubscribe")),
    path("", include("api.api_clients")),
]
