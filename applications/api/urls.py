from django.urls import path

from applications.api import views

urlpatterns = [
    path("plans", views.PlansView.as_view(), name="plans"),
    path(
        "tenants/<str:tenant>/applications",
        views.ApplicationsView.as_view(),
        name="applications",
    ),
    path(
        "tenants/<str:tenant>/applications/<str:application>",
        views.ApplicationDetailView.as_view(),
        name="application-detail",
    ),
    path(
        "tenants/<str:tenant>/applications/<str:application>/rotate",
        views.ApplicationRotateView.as_view(),
        name="application-rotate",
    ),
    path(
        "tenants/<str:tenant>/applications/<str:application>/revoke",
        views.ApplicationRevokeView.as_view(),
        name="application-revoke",
    ),
]
