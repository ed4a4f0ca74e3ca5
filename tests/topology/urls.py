"""The test views, plus helpers that let a topology test drive the server over HTTP."""

from django.urls import path

from tests.urls import urlpatterns as test_urlpatterns

from . import views

urlpatterns = [
    path("topology/health/", views.health),
    path("topology/issue/", views.issue),
    path("topology/use/", views.use),
    path("topology/revoke/", views.revoke),
    path("topology/visits/", views.visits),
    path("topology/login/", views.login_staff),
    *test_urlpatterns,
]
