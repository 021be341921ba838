from django.conf import settings

from endpoints.rendering import (
    TemplateError,
    render_endpoint_manifests,
    replica_fields,
    verifies_client_certificates,
)
from workers.backends import EndpointObject, TenantSurvey
from workers.backends.kube import get_kube_client
from workers.errors import PermanentError, TransientError
from workers.manifests import (
    ENDPOINT_KINDS,
    ENDPOINT_LABEL,
    ENDPOINTS_SELECTOR,
    MANAGED_BY,
    QUOTA_NAME,
    TENANT_LABEL,
    TENANT_SELECTOR,
    endpoint_selector,
    tenant_manifests,
)
from workers.pod_status import summarize_endpoints

# The kinds a tenant's namespace holds besides the namespace itself; pruning looks at these.
TENANT_KINDS = ("ResourceQuota", "LimitRange", "NetworkPolicy", "Role", "RoleBinding", "Secret")


def _key(manifest):
    meta = manifest["metadata"]
    return manifest["kind"], meta.get("namespace"), meta["name"]


class KubernetesOrchestrator:
    name = "kubernetes"

    def __init__(self, kube=None):
        self.kube = kube or get_kube_client()

    def _platform_tls_secret(self):
        if not settings.MODELPORT_TLS_SECRET:
            return None
        namespace, name = settings.MODELPORT_TLS_SECRET.split("/", 1)
        secret = self.kube.get("Secret", name, namespace)
        if secret is None:
            raise PermanentError(
                f"The platform TLS secret {settings.MODELPORT_TLS_SECRET} does not exist; "
                "create it or unset MODELPORT_TLS_SECRET."
            )
        return secret.get("data", {})

    def render_tenant(self, tenant, bindings):
        return tenant_manifests(tenant, bindings, self._platform_tls_secret())

    def apply_tenant(self, tenant, bindings):
        """Apply every object (idempotent), then remove ours that are no longer rendered."""
        manifests = self.render_tenant(tenant, bindings)
        for manifest in manifests:
            self.kube.apply(manifest)
        wanted = {_key(m) for m in manifests}
        for kind in TENANT_KINDS:
            for item in self.kube.list(kind, tenant.namespace, TENANT_SELECTOR):
                if _key(item) not in wanted:
                    self.kube.delete(kind, item["metadata"]["name"], tenant.namespace)

    def delete_tenant(self, tenant):
        """Delete the namespace (and so all in it); done once the API server says it is gone."""
        namespace = self.kube.get("Namespace", tenant.namespace)
        if (
            namespace is not None
            and namespace["metadata"].get("labels", {}).get(MANAGED_BY) != "modelport"
        ):
            raise PermanentError(
                f"Namespace {tenant.namespace} exists but was not made by Modelport."
            )
        self.kube.delete("Namespace", tenant.namespace)
        if self.kube.get("Namespace", tenant.namespace) is not None:
            raise TransientError(f"Namespace {tenant.namespace} is still terminating.")

    def managed_tenant_names(self):
        """Names of namespaces labelled as tenants of ours: one API call."""
        items = self.kube.list("Namespace", label_selector=TENANT_SELECTOR)
        return {item["metadata"]["name"] for item in items}

    def survey_tenants(self, tenants_with_bindings):
        """One list call per tenant kind, whatever the number of tenants: which tenants miss an
        object (drift), and what each tenant's ResourceQuota reports as used."""
        present = {}
        for kind in ("Namespace", *TENANT_KINDS):
            for item in self.kube.list(kind, label_selector=TENANT_SELECTOR):
                if item["metadata"].get("labels", {}).get(TENANT_LABEL):
                    present[_key(item)] = item
        tls = self._platform_tls_secret()
        drifted = [
            tenant
            for tenant, bindings in tenants_with_bindings
            if any(_key(m) not in present for m in tenant_manifests(tenant, bindings, tls))
        ]
        quota_used = {
            namespace: (item.get("status") or {}).get("used", {})
            for (kind, namespace, name), item in present.items()
            if kind == "ResourceQuota" and name == QUOTA_NAME
        }
        return TenantSurvey(drifted, quota_used)

    def delete_orphan(self, name):
        self.kube.delete("Namespace", name)

    # --- endpoints ---------------------------------------------------------------------------

    def apply_endpoint(self, endpoint):
        """Apply every object the serving template renders, then delete this endpoint's objects
        that it no longer renders (found by label)."""
        try:
            manifests = render_endpoint_manifests(endpoint)
        except TemplateError as exc:
            raise PermanentError(f"Serving template {endpoint.serving.name}: {exc}") from exc
        if not endpoint.tenant.ca_cert and any(map(verifies_client_certificates, manifests)):
            # ingress-nginx denies every request to a location whose CA secret is missing: say
            # why now rather than publish an endpoint nobody can call.
            raise PermanentError(
                f"Tenant {endpoint.tenant.name} has no client CA certificate, so the ingress "
                "can't verify clients; a platform admin must give the tenant its CA."
            )
        for manifest in manifests:
            self.kube.apply(manifest)
        wanted = {_key(m) for m in manifests}
        self._delete_endpoint_objects(endpoint, keep=wanted)

    def scale_endpoint(self, endpoint):
        """Patch the replica fields alone; an object that is missing is applied whole."""
        try:
            manifests = render_endpoint_manifests(endpoint)
        except TemplateError as exc:
            raise PermanentError(f"Serving template {endpoint.serving.name}: {exc}") from exc
        for manifest in manifests:
            fields = replica_fields(manifest)
            if fields is None:
                continue
            meta = manifest["metadata"]
            if self.kube.patch(manifest["kind"], meta["name"], meta["namespace"], fields) is None:
                self.kube.apply(manifest)

    def _delete_endpoint_objects(self, endpoint, keep=frozenset()):
        """Delete the endpoint's objects (found by label) except `keep`; returns how many."""
        namespace = endpoint.tenant.namespace
        deleted = 0
        for kind in ENDPOINT_KINDS:
            for item in self.kube.list(kind, namespace, endpoint_selector(endpoint.name)):
                if _key(item) not in keep:
                    self.kube.delete(kind, item["metadata"]["name"], namespace)
                    deleted += 1
        return deleted

    def delete_endpoint(self, endpoint):
        """Delete every object of the endpoint; done when a second look finds none left."""
        if self._delete_endpoint_objects(endpoint) and self._delete_endpoint_objects(endpoint):
            raise TransientError(f"Objects of endpoint {endpoint.name} are still being deleted.")

    def endpoint_status(self, tenant, endpoints):
        """{endpoint name: EndpointStatus} for the tenant's endpoints, from two API calls: one
        list of the namespace's endpoint pods and one of its endpoint Deployments."""
        pods = self.kube.list("Pod", tenant.namespace, ENDPOINTS_SELECTOR)
        deployments = self.kube.list("Deployment", tenant.namespace, ENDPOINTS_SELECTOR)
        return summarize_endpoints(endpoints, pods, deployments, ENDPOINT_LABEL)

    def endpoint_objects(self):
        """Every endpoint object of ours in the cluster: one call per kind."""
        return [
            EndpointObject(
                kind,
                item["metadata"]["namespace"],
                item["metadata"]["name"],
                item["metadata"]["labels"][ENDPOINT_LABEL],
            )
            for kind in ENDPOINT_KINDS
            for item in self.kube.list(kind, label_selector=ENDPOINTS_SELECTOR)
            if item["metadata"].get("labels", {}).get(ENDPOINT_LABEL)
        ]

    def delete_endpoint_object(self, obj):
        self.kube.delete(obj.kind, obj.name, obj.namespace)

    def endpoint_backends(self, tenant, endpoint):
        """Where the gateway sends an endpoint's calls: its Service's `http` port inside the
        cluster (or KServe's predictor Service); [] while no replica is available; None if
        there is no such endpoint."""
        from endpoints.models import Endpoint

        row = (
            Endpoint.objects.select_related("tenant", "serving")
            .filter(tenant__name=tenant, name=endpoint, deletion_requested_at__isnull=True)
            .first()
        )
        if row is None:
            return None
        if not row.available_replicas and not row.running_pods:
            return []
        try:
            manifests = render_endpoint_manifests(row)
        except TemplateError:
            return []
        namespace = row.tenant.namespace
        for manifest in manifests:
            name = manifest["metadata"]["name"]
            if manifest["kind"] == "InferenceService":
                return [f"http://{name}-predictor.{namespace}.svc.cluster.local"]
            if manifest["kind"] == "Service":
                for port in manifest["spec"].get("ports", []):
                    if port.get("name") == "http":
                        return [f"http://{name}.{namespace}.svc.cluster.local:{port['port']}"]
        return []

    def check(self):
        self.kube.version()
