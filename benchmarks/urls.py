from django.urls import path
from sesame.views import LoginView

from . import handwritten, views

urlpatterns = [
    # django-ticketoffice
    path("to/accept/", views.stamp, name="stamp"),
    path("stamp-direct/", views.stamp_direct, name="stamp-direct"),
    # the hand-written floors
    path("hand/accept/", handwritten.accept, name="hand-accept"),
    path("hand/one-get-403/", handwritten.one_get_forbidden, name="hand-one-get-403"),
    path("hand/403/", handwritten.forbidden, name="hand-403"),
    # django-sesame: one-time login link, then a login_required view
    path("sesame/login/", LoginView.as_view(next_page="/sesame/welcome/"), name="sesame-login"),
    path("sesame/welcome/", views.sesame_welcome, name="sesame-welcome"),
    path("bare/", views.bare, name="bare"),
]
