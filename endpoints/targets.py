"""An endpoint as the orchestrator takes it: the objects its serving template renders, its
replicas, and the stored model versions its policy selects. Built from the rows here, so the
backends never read the database."""

from core.phase import Phase
from endpoints.rendering import TemplateError, render_endpoint_manifests
from endpoints.validation import parse_version_policy
from models_store.selectors import ready_versions
from workers.backends.targets import EndpointTarget, ModelFiles
from workers.errors import PermanentError


def endpoint_target(endpoint):
    """The target for `endpoint` (tenant and serving selected). A template that does not render
    is a PermanentError: nothing of the endpoint can be applied until it is fixed."""
    try:
        manifests = render_endpoint_manifests(endpoint)
    except TemplateError as exc:
        raise PermanentError(f"Serving template {endpoint.serving.name}: {exc}") from exc
    tenant = endpoint.tenant
    policy = parse_version_policy(endpoint.version_policy)
    versions = policy.select(ready_versions(tenant, endpoint.model_name))
    return EndpointTarget(
        namespace=tenant.namespace,
        name=endpoint.name,
        replicas=endpoint.replicas,
        manifests=manifests,
        models=[
            ModelFiles(endpoint.model_name, v, tenant.bucket, f"{endpoint.model_name}/{v}/")
            for v in versions
        ],
        nothing_selected=(
            f"{endpoint.model_name} has no ready version that {policy.text} selects in tenant "
            f"{tenant.name}; upload one and the endpoint starts."
        ),
        client_ca=bool(tenant.ca_cert),
        available=bool(endpoint.available_replicas or endpoint.running_pods)
        and endpoint.phase != Phase.DELETING,
    )
