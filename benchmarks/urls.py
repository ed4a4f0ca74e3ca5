from django.urls import path

from . import views

urlpatterns = [
    path("bare/", views.bare, name="bare"),
    path("forbidden/", views.forbidden, name="forbidden"),
    path("refusal-page/", views.refusal_page, name="refusal-page"),
    path("stamp/", views.stamp, name="stamp"),
    path("stamp-direct/", views.stamp_direct, name="stamp-direct"),
    path("peek/", views.peek, name="peek"),
]
