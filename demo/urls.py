"""URLs of the demo site."""

from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("visit/", views.visit, name="visit"),
    path("accounts/reset/", views.password_reset_request, name="password-reset"),
    path("accounts/reset/confirm/", views.password_reset_confirm, name="password-reset-confirm"),
    path("accounts/sign-in/", views.SignInWithCode.as_view(), name="sign-in"),
    path("accounts/sign-in/confirm/", views.sign_in_confirm, name="sign-in-confirm"),
    path("admin/", admin.site.urls),
]
