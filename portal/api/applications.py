"""Plans (platform-wide), a tenant's applications with their API keys, and gateway usage."""

import csv
import io

from django.db.models import Prefetch
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import JSONRenderer

from portal import applications as services
from portal.api.exceptions import ApiError, NotFound
from portal.api.responses import envelope
from portal.api.serializers import (
    ApplicationCreateSerializer,
    ApplicationDeleteSerializer,
    PlanSerializer,
    RotateSerializer,
    application_item,
    plan_item,
)
from portal.api.views import ApiView
from portal.models import ApiKey, Application, Plan
from portal.usage import GRANULARITY_SECONDS, query_usage
from tenants.access import is_platform_admin
from tenants.api.views import TenantScopedView
from tenants.models import Role


def validated(serializer_class, view, request):
    view.reject_unknown_fields(request.data, serializer_class().fields)
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class PlansView(ApiView):
    @extend_schema(summary="List the plans applications can have")
    def get(self, request):
        return self.paginate("plans", Plan.objects.order_by("name"), plan_item)

    @extend_schema(summary="Create a plan (platform admins)", request=PlanSerializer)
    def post(self, request):
        if not is_platform_admin(request.user):
            raise ApiError("permission_denied", "Only platform admins can create plans.", 403)
        data = validated(PlanSerializer, self, request)
        plan = services.create_plan(
            name=data["name"],
            description=data["description"],
            requests_per_minute=data["requestsPerMinute"],
            requests_per_day=data["requestsPerDay"],
            concurrent_requests=data["concurrentRequests"],
            tokens_per_minute=data["tokensPerMinute"],
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
    application = applications_with_keys(tenant).filter(name=name).first()
    if application is None:
        raise NotFound(
            f"Tenant {tenant.name!r} has no application called {name!r}.",
            code="application_not_found",
        )
    return application


class ApplicationsView(TenantScopedView):
    """A tenant's client applications. Members see them; tenant admins manage them."""

    required_roles = {"POST": Role.ADMIN, "DELETE": Role.ADMIN}

    @extend_schema(summary="List the tenant's applications (key prefixes, never keys)")
    def get(self, request, tenant):
        return self.paginate(
            "applications", applications_with_keys(self.tenant(tenant)), application_item
        )

    @extend_schema(
        summary="Create an application and its API key, shown once (tenant admins)",
        request=ApplicationCreateSerializer,
    )
    def post(self, request, tenant):
        tenant = self.tenant(tenant)
        data = validated(ApplicationCreateSerializer, self, request)
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

    @extend_schema(
        summary="Delete an application and its keys (tenant admins)",
        request=ApplicationDeleteSerializer,
    )
    def delete(self, request, tenant):
        tenant = self.tenant(tenant)
        name = validated(ApplicationDeleteSerializer, self, request)["name"]
        services.delete_application(get_application(tenant, name))
        return envelope("DELETED", {"name": name})


class ApplicationDetailView(TenantScopedView):
    @extend_schema(summary="An application: plan, endpoints, the keys in use")
    def get(self, request, tenant, application):
        return envelope("OK", application_item(get_application(self.tenant(tenant), application)))


class ApplicationRotateView(TenantScopedView):
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(
        summary="Issue a new key, shown once; the old keys stop after a grace period (admins)",
        request=RotateSerializer,
    )
    def post(self, request, tenant, application):
        application = get_application(self.tenant(tenant), application)
        data = validated(RotateSerializer, self, request)
        key = services.rotate_key(
            application,
            grace_seconds=data["graceSeconds"],
            expires_in_days=data.get("expiresInDays"),
        )
        return envelope("CREATED", {"name": application.name, "key": key})


class ApplicationRevokeView(TenantScopedView):
    required_roles = {"POST": Role.ADMIN}

    @extend_schema(summary="Revoke every key of an application now (tenant admins)", request=None)
    def post(self, request, tenant, application):
        application = get_application(self.tenant(tenant), application)
        revoked = services.revoke_keys(application)
        return envelope("OK", {"name": application.name, "revokedKeys": revoked})


class UsageView(TenantScopedView):
    """Gateway calls to the tenant's endpoints over time, from the flushed usage minutes."""

    def perform_content_negotiation(self, request, force=False):
        # `format=csv` is answered by get() itself; errors stay JSON.
        if request.query_params.get("format") == "csv":
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        summary="Requests, errors, latency percentiles and tokens over time (JSON or CSV)",
        parameters=[
            OpenApiParameter("application", str, description="Only this application's calls."),
            OpenApiParameter("endpoint", str, description="Only calls to this endpoint."),
            OpenApiParameter("since", str, description="ISO 8601; default: until minus a day."),
            OpenApiParameter("until", str, description="ISO 8601; default: now."),
            OpenApiParameter("granularity", str, enum=list(GRANULARITY_SECONDS)),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
    )
    def get(self, request, tenant):
        tenant = self.tenant(tenant)
        series = query_usage(tenant, request.query_params).series
        if request.query_params.get("format") == "csv":
            return _csv(series, f"usage-{tenant.name}.csv")
        return envelope("OK", {"series": series})


CSV_COLUMNS = ("time", "requests", "errors", "p50_ms", "p99_ms", "tokens")


def _csv(series, filename):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(series)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
