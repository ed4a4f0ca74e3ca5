from django.urls import path

from . import views

app_name = "museum"
urlpatterns = [
    path("visit/", views.visit, name="visit"),
    path("gallery/", views.GalleryView.as_view(), name="gallery"),
    path("ask/", views.ask, name="ask"),
]
