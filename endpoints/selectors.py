"""Reads of endpoints that other apps need: which endpoints serve a model version, which check
client certificates against the tenant's CA, and where the gateway sends an endpoint's calls."""

from collections import defaultdict

import requests

from endpoints.models import Endpoint
from endpoints.rendering import TemplateError, render_endpoint_manifests
from endpoints.targets import endpoint_target
from endpoints.validation import parse_version_policy
from models_store.selectors import ready_versions_by_model
from workers.backends import get_orchestrator
from workers.backends.kubernetes import verifies_client_certificates
from workers.backends.targets import EndpointTarget
from workers.errors import PermanentError


def endpoints_verifying_clients(tenant):
    """Names of the tenant's endpoints (those being deleted aside) whose serving template
    publishes an ingress that checks client certificates against the tenant's CA."""
    endpoints = (
        Endpoint.objects.filter(tenant=tenant, deletion_requested_at__isnull=True)
        .select_related("tenant", "serving")
        .order_by("name")
    )
    names = []
    for endpoint in endpoints:
        try:
            manifests = render_endpoint_manifests(endpoint)
        except TemplateError:
            continue  # nothing of it can be applied; its reconcile says why
        if any(map(verifies_client_certificates, manifests)):
            names.append(endpoint.name)
    return names


def endpoints_serving(tenant, model_name, version):
    """Names of the tenant's endpoints whose version policy selects `version` of the model."""
    return serving_by_version(tenant, [model_name]).get((model_name, version), [])


def serving_by_version(tenant, model_names):
    """{(model name, version): names of the endpoints serving it} for the tenant's models
    `model_names`, in two queries however many models and versions there are (the models page
    lists many)."""
    available = ready_versions_by_model(tenant, model_names)
    serving = defaultdict(list)
    endpoints = Endpoint.objects.filter(
        tenant=tenant, model_name__in=model_names, deletion_requested_at__isnull=True
    )
    for endpoint in endpoints:
        policy = parse_version_policy(endpoint.version_policy)
        for version in policy.select(available[endpoint.model_name]):
            serving[(endpoint.model_name, version)].append(endpoint.name)
    return serving


def gateway_target(tenant_name, endpoint_name):
    """What the gateway needs to find an endpoint's replicas (see the orchestrator's
    endpoint_backends), or None if the tenant has no such endpoint (or it is being deleted). An
    endpoint whose template does not render has no replicas to call."""
    endpoint = (
        Endpoint.objects.select_related("tenant", "serving")
        .filter(tenant__name=tenant_name, name=endpoint_name, deletion_requested_at__isnull=True)
        .first()
    )
    if endpoint is None:
        return None
    try:
        return endpoint_target(endpoint)
    except PermanentError:
        # Nothing of it can be applied; its reconcile says why.
        return EndpointTarget(endpoint.tenant.namespace, endpoint.name, endpoint.replicas)


def callable_endpoints(tenant_names):
    """(tenant, endpoint, created_at) of the tenants' endpoints the gateway forwards to (those
    being deleted aside), by tenant and name."""
    return list(
        Endpoint.objects.filter(tenant__name__in=tenant_names, deletion_requested_at__isnull=True)
        .order_by("tenant__name", "name")
        .values_list("tenant__name", "name", "created_at")
    )


# How long a page waits for a model server to describe its model.
METADATA_SECONDS = 2


def served_metadata(endpoint):
    """What a ready replica says the endpoint's model takes and gives (its Open Inference
    Protocol metadata: `inputs`, `outputs`), asked where the gateway would send a call, or None
    if no replica answers in time."""
    target = gateway_target(endpoint.tenant.name, endpoint.name)
    urls = get_orchestrator().endpoint_backends(target) if target is not None else []
    if not urls:
        return None
    try:
        response = requests.get(
            f"{urls[0]}/v2/models/{endpoint.model_name}", timeout=METADATA_SECONDS
        )
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError):
        return None
