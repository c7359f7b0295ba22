from django.urls import path

from . import views

urlpatterns = [
    path("", views.items, name="items"),
    path("item/<int:item_id>", views.item, name="item"),
]
