from drf_spectacular.utils import extend_schema

from core.api.envelope import envelope
from core.api.views import ApiView
from core.errors import NotFound
from endpoints import services
from endpoints.api.serializers import (
    EndpointCreateSerializer,
    EndpointDeleteSerializer,
    EndpointUpdateSerializer,
    ScaleSerializer,
    create_endpoint,
    endpoint_detail,
    list_status,
)
from endpoints.errors import EndpointErrorCode
from endpoints.models import Endpoint, ServingTemplate, endpoint_url
from tenants.access import get_tenant
from tenants.models import Role


def get_endpoint(user, tenant_name, endpoint_name, role=Role.VIEWER):
    """The endpoint if `user` may see its tenant (404 otherwise), 403 without `role`."""
    tenant = get_tenant(user, tenant_name, role=role)
    endpoint = (
        Endpoint.objects.select_related("tenant", "serving")
        .filter(tenant=tenant, name=endpoint_name)
        .first()
    )
    if endpoint is None:
        raise NotFound(
            EndpointErrorCode.ENDPOINT_NOT_FOUND,
            f"Tenant {tenant_name!r} has no endpoint called {endpoint_name!r}.",
        )
    return endpoint


class EndpointsView(ApiView):
    @extend_schema(summary="List the tenant's endpoints (name, url, status)")
    def get(self, request, tenant):
        tenant = get_tenant(request.user, tenant)
        endpoints = (
            Endpoint.objects.filter(tenant=tenant)
            .order_by("name")
            .only("name", "phase", "deletion_requested_at", "tenant_id")
        )
        return self.paginate(
            "endpoints",
            endpoints,
            lambda e: {
                "name": e.name,
                "url": endpoint_url(e.name, tenant.name),
                "status": list_status(e),
            },
        )

    @extend_schema(summary="Create an endpoint (editors)", request=EndpointCreateSerializer)
    def post(self, request, tenant):
        tenant = get_tenant(request.user, tenant, role=Role.EDITOR)
        data = self.body(EndpointCreateSerializer)
        endpoint = create_endpoint(data, tenant=tenant, created_by=request.user)
        warning = services.model_warning(tenant, endpoint.model_name)
        return envelope("CREATED", {"url": endpoint.url, "warning": warning})

    @extend_schema(summary="Delete an endpoint (editors)", request=EndpointDeleteSerializer)
    def delete(self, request, tenant):
        # Who may delete here is decided before the body is read: a stranger learns nothing.
        get_tenant(request.user, tenant, role=Role.EDITOR)
        data = self.body(EndpointDeleteSerializer)
        endpoint = get_endpoint(request.user, tenant, data["endpointName"], role=Role.EDITOR)
        services.request_endpoint_deletion(endpoint)
        return envelope("DELETED", {"url": endpoint.url})


class EndpointDetailView(ApiView):
    @extend_schema(summary="An endpoint: pods, replicas, url, model, phase")
    def get(self, request, tenant, endpoint):
        return envelope("OK", endpoint_detail(get_endpoint(request.user, tenant, endpoint)))

    @extend_schema(
        summary="Change model, policy, resources or subject (editors)",
        request=EndpointUpdateSerializer,
    )
    def patch(self, request, tenant, endpoint):
        endpoint = get_endpoint(request.user, tenant, endpoint, role=Role.EDITOR)
        data = self.body(EndpointUpdateSerializer)
        values = services.update_endpoint(endpoint, dict(data))
        return envelope("PATCHED", {"url": endpoint.url, "values": values})


class EndpointReplicasView(ApiView):
    @extend_schema(summary="Scale an endpoint (editors)", request=ScaleSerializer)
    def patch(self, request, tenant, endpoint):
        endpoint = get_endpoint(request.user, tenant, endpoint, role=Role.EDITOR)
        replicas = self.body(ScaleSerializer)["replicas"]
        services.scale(endpoint, replicas)
        return envelope("PATCHED", {"url": endpoint.url, "values": {"replicas": replicas}})


class ServingsView(ApiView):
    @extend_schema(summary="Names of the serving templates")
    def get(self, request):
        return envelope("OK", list(ServingTemplate.objects.values_list("name", flat=True)))


class ServingDetailView(ApiView):
    @extend_schema(summary="A serving template's files")
    def get(self, request, name):
        template = ServingTemplate.objects.filter(name=name).first()
        if template is None:
            raise NotFound(
                EndpointErrorCode.SERVING_NOT_FOUND,
                f"There is no serving template called {name!r}.",
            )
        return envelope("OK", template.files())
