from django.urls import path

from gateway.api import views

urlpatterns = [
    path("tenants/<str:tenant>/usage", views.UsageView.as_view(), name="usage"),
]
