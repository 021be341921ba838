from django.urls import path

from tenants.api import views

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("tenants", views.TenantsView.as_view(), name="tenants"),
    path("tenants/<str:tenant>", views.TenantDetailView.as_view(), name="tenant-detail"),
    path(
        "tenants/<str:tenant>/bindings",
        views.TenantBindingsView.as_view(),
        name="tenant-bindings",
    ),
]
