from django.contrib import admin
from django.urls import path, re_path

from . import api_views, mail_views, views

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
    # Integrations (django_ticketoffice.contrib): tests/test_contrib_*.py.
    path("api/drf/download/", api_views.drf_download, name="drf-download"),
    path("api/drf/peek/", api_views.drf_peek, name="drf-peek"),
    path("api/drf/view/", api_views.DrfDownloadView.as_view(), name="drf-view"),
    path("api/drf/unguarded/", api_views.drf_unguarded, name="drf-unguarded"),
    path("api/ninja/", api_views.ninja_api.urls),
    path("mail/unsubscribe/", mail_views.unsubscribe_view, name="unsubscribe"),
    path("mail/by-setting/", mail_views.unsubscribe_by_setting, name="unsubscribe-by-setting"),
    # A catch-all prefix, as some projects have: "//evil.example/x/anywhere/" matches.
    re_path(r"^(?P<prefix>.*)/anywhere/$", views.anywhere, name="anywhere"),
]
