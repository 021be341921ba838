from django.conf import settings

from workers.backends import TenantSurvey
from workers.backends.kube import get_kube_client
from workers.errors import PermanentError, TransientError
from workers.manifests import (
    MANAGED_BY,
    QUOTA_NAME,
    TENANT_LABEL,
    TENANT_SELECTOR,
    tenant_manifests,
)

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

    def check(self):
        self.kube.version()
