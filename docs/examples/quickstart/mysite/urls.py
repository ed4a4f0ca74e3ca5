from django.contrib import admin
from django.urls import path
from museum.views import visit

urlpatterns = [
    path("admin/", admin.site.urls),
    path("visit/", visit, name="visit"),
]
