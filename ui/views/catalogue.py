"""Signing in and out, and the catalogue: the endpoints a person may call, by tenant."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.db.models import Prefetch
from django.shortcuts import redirect, render
from mozilla_django_oidc.views import OIDCLogoutView

from endpoints.models import Endpoint
from tenants.access import is_platform_admin, roles_by_tenant, tenants_for
from ui.pages import page, post_only, read_only


class LoginView(auth_views.LoginView):
    """Single sign-on when OIDC is on; the password form for local accounts otherwise (and for
    platform admins' break-glass accounts, which /admin/login/ also takes)."""

    template_name = "ui/login.html"
    redirect_authenticated_user = True

    def get(self, request, *args, **kwargs):
        if request.GET.get("failed"):
            messages.error(
                request, "Single sign-on did not complete; try again or ask a platform admin."
            )
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "sso": bool(settings.OIDC_ISSUER)}


@post_only
def logout(request):
    """Ends the portal session (and, after single sign-on, the provider's)."""
    if settings.OIDC_ISSUER and request.session.get("oidc_id_token"):
        return OIDCLogoutView.as_view()(request)
    return auth_views.LogoutView.as_view()(request)


def home(request):
    return redirect("ui:catalogue")


@read_only
@page
def catalogue(request):
    tenants = (
        tenants_for(request.user)
        .order_by("name")
        .prefetch_related(
            Prefetch(
                "endpoints",
                queryset=Endpoint.objects.select_related("serving").order_by("name"),
                to_attr="listed_endpoints",
            )
        )
    )
    roles = roles_by_tenant(request.user)
    groups = [(tenant, roles.get(tenant.name, "viewer")) for tenant in tenants]
    return render(
        request,
        "ui/catalogue.html",
        {"groups": groups, "platform_admin": is_platform_admin(request.user)},
    )
