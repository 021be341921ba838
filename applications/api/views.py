"""Plans (platform-wide) and a tenant's applications with their API keys."""

from django.db.models import Prefetch

from applications import services
from applications.api.serializers import (
    ApplicationCreatedSerializer,
    ApplicationCreateSerializer,
    ApplicationDeleteSerializer,
    ApplicationItemSerializer,
    ApplicationNameSerializer,
    NewKeySerializer,
    PlanItemSerializer,
    PlanSerializer,
    RevokedSerializer,
    RotateSerializer,
    application_item,
    plan_item,
    plan_limits_from,
)
from applications.errors import ApplicationErrorCode
from applications.models import ApiKey, Application, Plan
from core.api.envelope import envelope
from core.api.schema import answers, answers_page
from core.api.views import ApiView
from core.errors import CoreErrorCode, Forbidden, NotFound
from tenants.access import is_platform_admin
from tenants.api.views import TenantScopedView
from tenants.models import Role


class PlansView(ApiView):
    @answers_page(
        "plans", PlanItemSerializer(), name="Plans", summary="List the plans applications can have"
    )
    def get(self, request):
        return self.paginate("plans", Plan.objects.order_by("name"), plan_item)

    @answers(
        "CREATED",
        PlanItemSerializer,
        errors=(400, 403, 409),
        summary="Create a plan (platform admins)",
        request=PlanSerializer,
    )
    def post(self, request):
        if not is_platform_admin(request.user):
            raise Forbidden(
                CoreErrorCode.PERMISSION_DENIED, "Only platform admins can create plans."
            )
        data = self.body(PlanSerializer)
        plan = services.create_plan(
            name=data["name"],
            description=data["description"],
            **plan_limits_from(data),
        )
        return envelope("CREATED", plan_item(plan))


def applications_with_keys(tenant):
    """The tenant's applications with their plan, endpoints and usable keys (API and portal)."""
    return (
        Application.objects.filter(tenant=tenant)
        .select_related("plan")
        .prefetch_related(
            "endpoints", Prefetch("keys", queryset=ApiKey.objects.usable().order_by("created_at"))
        )
        .order_by("name")
    )


def get_application(tenant, name):
    # A name with NUL names nothing (and PostgreSQL refuses NUL in a query).
    application = (
        None if "\x00" in name else applications_with_keys(tenant).filter(name=name).first()
    )
    if application is None:
        raise NotFound(
            ApplicationErrorCode.APPLICATION_NOT_FOUND,
            f"Tenant {tenant.name!r} has no application called {name!r}.",
        )
    return application


class ApplicationsView(TenantScopedView):
    """A tenant's client applications. Members see them; tenant admins manage them."""

    required_roles = {"POST": Role.ADMIN, "DELETE": Role.ADMIN}

    @answers_page(
        "applications",
        ApplicationItemSerializer(),
        name="Applications",
        summary="List the tenant's applications (key prefixes, never keys)",
    )
    def get(self, request, tenant):
        return self.paginate(
            "applications", applications_with_keys(self.tenant(tenant)), application_item
        )

    @answers(
        "CREATED",
        ApplicationCreatedSerializer,
        errors=(400, 403, 404, 409),
        summary="Create an application and its API key, shown once (tenant admins)",
        request=ApplicationCreateSerializer,
    )
    def post(self, request, tenant):
        tenant = self.tenant(tenant)
        data = self.body(ApplicationCreateSerializer)
        application, key = services.create_application_from_names(
            tenant=tenant,
            name=data["name"],
            plan_name=data["plan"],
            endpoint_names=data["endpoints"],
            created_by=request.user,
            expires_in_days=data.get("expiresInDays"),
        )
        return envelope(
            "CREATED",
            {
                "name": application.name,
                "plan": application.plan.name,
                "endpoints": sorted(set(data["endpoints"])),
                "key": key,
            },
        )

    @answers(
        "DELETED",
        ApplicationNameSerializer,
        errors=(400, 403, 404),
        summary="Delete an application and its keys (tenant admins)",
        request=ApplicationDeleteSerializer,
    )
    def delete(self, request, tenant):
        tenant = self.tenant(tenant)
        name = self.body(ApplicationDeleteSerializer)["name"]
        services.delete_application(get_application(tenant, name))
        return envelope("DELETED", {"name": name})


class ApplicationDetailView(TenantScopedView):
    @answers(
        "OK",
        ApplicationItemSerializer,
        errors=(404,),
        summary="An application: plan, endpoints, the keys in use",
    )
    def get(self, request, tenant, application):
        return envelope("OK", application_item(get_application(self.tenant(tenant), application)))


class ApplicationRotateView(TenantScopedView):
    required_roles = {"POST": Role.ADMIN}

    @answers(
        "CREATED",
        NewKeySerializer,
        errors=(400, 403, 404, 409),
        summary="Issue a new key, shown once; the old keys stop after a grace period (admins)",
        request=RotateSerializer,
    )
    def post(self, request, tenant, application):
        application = get_application(self.tenant(tenant), application)
        data = self.body(RotateSerializer)
        key = services.rotate_key(
            application,
            grace_seconds=data["graceSeconds"],
            expires_in_days=data.get("expiresInDays"),
        )
        return envelope("CREATED", {"name": application.name, "key": key})


class ApplicationRevokeView(TenantScopedView):
    required_roles = {"POST": Role.ADMIN}

    @answers(
        "OK",
        RevokedSerializer,
        errors=(403, 404),
        summary="Revoke every key of an application now (tenant admins)",
        request=None,
    )
    def post(self, request, tenant, application):
        application = get_application(self.tenant(tenant), application)
        revoked = services.revoke_keys(application)
        return envelope("OK", {"name": application.name, "revokedKeys": revoked})
