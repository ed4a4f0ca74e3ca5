from django.contrib import admin
from django.urls import path, re_path

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
    path("orsay/", views.orsay, name="orsay"),
    path("inspect/", views.inspect, name="inspect"),
    path("handled/", views.handled, name="handled"),
    path("unguarded/", views.unguarded, name="unguarded"),
    path("rooms/<int:room>/", views.room, name="room"),
    path("gallery/", views.GalleryView.as_view(), name="gallery"),
    path("lazy/", views.lazy, name="lazy"),
    path("revoked-midway/", views.revoked_midway, name="revoked-midway"),
    path("report/", views.report, name="report"),
    path("slow/", views.slow, name="slow"),
    path("async-race/", views.async_race, name="async-race"),
    path("code/", views.CodeView.as_view(), name="code"),
    path("broken-code/", views.BrokenCodeView.as_view(), name="broken-code"),
    # A catch-all prefix, as some projects have: "//evil.example/x/anywhere/" matches.
    re_path(r"^(?P<prefix>.*)/anywhere/$", views.anywhere, name="anywhere"),
]
