from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("api/echo", views.api_echo, name="api_echo"),
    path("form", views.form, name="form"),
    path("upload", views.upload, name="upload"),
    path("urls", views.urls, name="urls"),
    path("info", views.info, name="info"),
]
