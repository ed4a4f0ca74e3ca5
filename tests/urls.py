from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("louvre/", views.visit_louvre, name="louvre"),
    path("peek/", views.peek, name="peek"),
    path("confirm/", views.confirm, name="confirm"),
    path("fail/<int:status>/", views.fail, name="fail"),
    path("boom/", views.boom, name="boom"),
    path("async/", views.async_visit, name="async"),
    path("async-stamp/", views.async_stamp, name="async-stamp"),
    path("race/", views.race, name="race"),
    path("cbv/", views.LouvreView.as_view(), name="cbv"),
]
