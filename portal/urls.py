from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from portal import health
from portal.metrics import metrics_view
from ui.views import catalogue

handler404 = "ui.pages.not_found"
handler500 = "ui.pages.server_error"

urlpatterns = [
    path("", catalogue.home, name="home"),
    path("ui/", include("ui.urls")),
    # Where browsers look for an icon on pages that name none (the admin site, the API's).
    path("favicon.ico", RedirectView.as_view(url=static("ui/favicon.svg"), permanent=True)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api-auth/", include("rest_framework.urls")),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("", include("identity.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("tenants.api.urls")),
    path("", include("models_store.api.urls")),
    path("", include("endpoints.api.urls")),
    path("", include("applications.api.urls")),
    path("", include("gateway.api.urls")),
    path("", include("audit.api.urls")),
]
