from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from portal import health
from portal.ui import views as ui_views

handler404 = "portal.ui.pages.not_found"
handler500 = "portal.ui.pages.server_error"

urlpatterns = [
    path("", ui_views.home, name="home"),
    path("ui/", include("portal.ui.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api-auth/", include("rest_framework.urls")),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("", include("portal.identity.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("tenants.api.urls")),
    path("", include("models_store.api.urls")),
    path("", include("endpoints.api.urls")),
    path("", include("portal.api.urls")),
]
