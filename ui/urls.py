from django.urls import include, path

from ui.views import activity, applications, catalogue, endpoints, models, tenants, usage

app_name = "ui"

tenant_pages = [
    path("", endpoints.endpoint_list, name="endpoints"),
    path("endpoints/new", endpoints.endpoint_create, name="endpoint-create"),
    path("endpoints/<str:endpoint>/", endpoints.endpoint_detail, name="endpoint"),
    path("endpoints/<str:endpoint>/status", endpoints.endpoint_status, name="endpoint-status"),
    path("endpoints/<str:endpoint>/scale", endpoints.endpoint_scale, name="endpoint-scale"),
    path("endpoints/<str:endpoint>/update", endpoints.endpoint_update, name="endpoint-update"),
    path("endpoints/<str:endpoint>/delete", endpoints.endpoint_delete, name="endpoint-delete"),
    path("models/", models.model_list, name="models"),
    path("models/list", models.model_list_fragment, name="models-list"),
    path("models/delete", models.model_delete, name="models-delete"),
    path("settings/", tenants.tenant_settings, name="tenant-settings"),
    path("settings/status", tenants.tenant_status, name="tenant-status"),
    path("settings/quota", tenants.tenant_quota, name="tenant-quota"),
    path("settings/certificate", tenants.tenant_certificate, name="tenant-certificate"),
    path("settings/bindings", tenants.binding_add, name="binding-add"),
    path("settings/bindings/remove", tenants.binding_remove, name="binding-remove"),
    path("applications/", applications.application_list, name="applications"),
    path(
        "applications/<str:application>/rotate",
        applications.application_rotate,
        name="application-rotate",
    ),
    path(
        "applications/<str:application>/revoke",
        applications.application_revoke,
        name="application-revoke",
    ),
    path(
        "applications/<str:application>/delete",
        applications.application_delete,
        name="application-delete",
    ),
    path("usage/", usage.usage, name="usage"),
    path("activity/", activity.activity, name="activity"),
]

urlpatterns = [
    path("", catalogue.catalogue, name="catalogue"),
    path("login/", catalogue.LoginView.as_view(), name="login"),
    path("logout/", catalogue.logout, name="logout"),
    path("tenants/", tenants.tenant_list, name="tenants"),
    path("tenants/<str:name>/delete", tenants.tenant_delete, name="tenant-delete"),
    path("t/<str:tenant>/", include(tenant_pages)),
]
