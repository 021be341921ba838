from django.conf import settings
from rest_framework import serializers

from core.api.envelope import envelope
from core.api.schema import answers, answers_page
from core.api.views import ApiView
from core.errors import NotFound
from endpoints import services
from endpoints.api.serializers import (
    EndpointChangedSerializer,
    EndpointCreatedSerializer,
    EndpointCreateSerializer,
    EndpointDeleteSerializer,
    EndpointDetailSerializer,
    EndpointItemSerializer,
    EndpointScaledSerializer,
    EndpointUpdateSerializer,
    EndpointUrlSerializer,
    ScaleSerializer,
    create_endpoint,
    endpoint_detail,
    list_status,
)
from endpoints.errors import EndpointErrorCode
from endpoints.models import Endpoint, ServingTemplate, endpoint_url
from tenants.access import get_tenant
from tenants.api.views import TenantScopedView
from tenants.models import Role
from workers.backends import describe_runtime


def find_endpoint(tenant, name):
    """The tenant's endpoint called `name` (404 if there is none)."""
    endpoints = Endpoint.objects.select_related("tenant", "serving").filter(tenant=tenant)
    # A name with NUL names nothing (and PostgreSQL refuses NUL in a query).
    endpoint = endpoints.filter(name=name).first() if "\x00" not in name else None
    if endpoint is None:
        raise NotFound(
            EndpointErrorCode.ENDPOINT_NOT_FOUND,
            f"Tenant {tenant.name!r} has no endpoint called {name!r}.",
        )
    return endpoint


def get_endpoint(user, tenant_name, endpoint_name, role=Role.VIEWER):
    """For the portal's pages: the endpoint if `user` may see its tenant (404 otherwise), 403
    without `role`. The API's views scope through TenantScopedView."""
    return find_endpoint(get_tenant(user, tenant_name, role=role), endpoint_name)


class EndpointsView(TenantScopedView):
    @answers_page(
        "endpoints",
        EndpointItemSerializer(),
        name="Endpoints",
        summary="List the tenant's endpoints (name, url, status)",
    )
    def get(self, request, tenant):
        tenant = self.tenant(tenant)
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

    @answers(
        "CREATED",
        EndpointCreatedSerializer,
        errors=(400, 403, 404, 409),
        summary="Create an endpoint (editors)",
        request=EndpointCreateSerializer,
    )
    def post(self, request, tenant):
        tenant = self.tenant(tenant)
        data = self.body(EndpointCreateSerializer)
        endpoint = create_endpoint(data, tenant=tenant, created_by=request.user)
        warning = services.model_warning(tenant, endpoint.model_name)
        return envelope("CREATED", {"url": endpoint.url, "warning": warning})

    @answers(
        "DELETED",
        EndpointUrlSerializer,
        errors=(400, 403, 404),
        summary="Delete an endpoint (editors)",
        request=EndpointDeleteSerializer,
    )
    def delete(self, request, tenant):
        # Who may delete here is decided before the body is read: a stranger learns nothing.
        tenant = self.tenant(tenant)
        data = self.body(EndpointDeleteSerializer)
        endpoint = find_endpoint(tenant, data["endpointName"])
        services.request_endpoint_deletion(endpoint)
        return envelope("DELETED", {"url": endpoint.url})


class EndpointDetailView(TenantScopedView):
    @answers(
        "OK",
        EndpointDetailSerializer,
        errors=(404,),
        summary="An endpoint: pods, replicas, url, model, phase",
    )
    def get(self, request, tenant, endpoint):
        return envelope("OK", endpoint_detail(find_endpoint(self.tenant(tenant), endpoint)))

    @answers(
        "PATCHED",
        EndpointChangedSerializer,
        errors=(400, 403, 404, 409),
        summary="Change model, policy, resources or subject (editors)",
        request=EndpointUpdateSerializer,
    )
    def patch(self, request, tenant, endpoint):
        endpoint = find_endpoint(self.tenant(tenant), endpoint)
        data = self.body(EndpointUpdateSerializer)
        values = services.update_endpoint(endpoint, dict(data))
        return envelope("PATCHED", {"url": endpoint.url, "values": values})


class EndpointReplicasView(TenantScopedView):
    @answers(
        "PATCHED",
        EndpointScaledSerializer,
        errors=(400, 403, 404, 409),
        summary="Scale an endpoint (editors)",
        request=ScaleSerializer,
    )
    def patch(self, request, tenant, endpoint):
        endpoint = find_endpoint(self.tenant(tenant), endpoint)
        replicas = self.body(ScaleSerializer)["replicas"]
        services.scale(endpoint, replicas)
        return envelope("PATCHED", {"url": endpoint.url, "values": {"replicas": replicas}})


class ServingsView(ApiView):
    @answers(
        "OK",
        serializers.ListField(child=serializers.CharField()),
        name="ServingNames",
        operation_id="servings_list",
        summary="Names of the serving templates",
    )
    def get(self, request):
        return envelope("OK", list(ServingTemplate.objects.values_list("name", flat=True)))


class ServingDetailView(ApiView):
    @answers(
        "OK",
        serializers.DictField(child=serializers.CharField(), help_text="{file name: its text}"),
        name="ServingFiles",
        errors=(404,),
        summary="A serving template's files",
    )
    def get(self, request, name):
        # A name with NUL names nothing (and PostgreSQL refuses NUL in a query).
        template = None if "\x00" in name else ServingTemplate.objects.filter(name=name).first()
        if template is None:
            raise NotFound(
                EndpointErrorCode.SERVING_NOT_FOUND,
                f"There is no serving template called {name!r}.",
            )
        return envelope("OK", template.files())


class FormatSerializer(serializers.Serializer):
    name = serializers.CharField()
    files = serializers.CharField(
        help_text="Which files of a model version are this format's model."
    )
    library = serializers.CharField(help_text="The Python distribution that loads it.")
    version = serializers.CharField(
        allow_null=True, help_text="Its version here (a pickled model needs the same one)."
    )


class RuntimeSerializer(serializers.Serializer):
    orchestrator = serializers.ChoiceField(choices=["local", "kubernetes"])
    defaultServing = serializers.CharField(help_text="The template an endpoint gets by default.")
    formats = FormatSerializer(
        many=True,
        help_text="The model formats this machine's runtime serves; empty on a cluster, where "
        "the serving templates' images decide.",
    )
    libraries = serializers.DictField(
        child=serializers.CharField(allow_null=True),
        help_text="{distribution: version} of the local runtime's libraries.",
    )


class RuntimeView(ApiView):
    @answers("OK", RuntimeSerializer(), name="Runtime", summary="What endpoints run on here")
    def get(self, request):
        return envelope(
            "OK", {**describe_runtime(), "defaultServing": settings.MODELPORT_DEFAULT_SERVING}
        )
