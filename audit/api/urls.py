from django.urls import path

from audit.api import views

urlpatterns = [
    path("audit", views.PlatformAuditView.as_view(), name="audit"),
    path("audit/export", views.PlatformAuditExportView.as_view(), name="audit-export"),
    path("tenants/<str:tenant>/audit", views.TenantAuditView.as_view(), name="tenant-audit"),
    path(
        "tenants/<str:tenant>/audit/export",
        views.TenantAuditExportView.as_view(),
        name="tenant-audit-export",
    ),
]
