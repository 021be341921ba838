from django.urls import path

from endpoints.api import views

urlpatterns = [
    path("tenants/<str:tenant>/endpoints", views.EndpointsView.as_view(), name="endpoints"),
    path(
        "tenants/<str:tenant>/endpoints/<str:endpoint>",
        views.EndpointDetailView.as_view(),
        name="endpoint-detail",
    ),
    path(
        "tenants/<str:tenant>/endpoints/<str:endpoint>/replicas",
        views.EndpointReplicasView.as_view(),
        name="endpoint-replicas",
    ),
    path("servings", views.ServingsView.as_view(), name="servings"),
    path("runtime", views.RuntimeView.as_view(), name="runtime"),
    path("servings/<str:name>", views.ServingDetailView.as_view(), name="serving-detail"),
]
