"""The cluster orchestrator: applies rendered objects through the API server, prunes what it
made and no longer wants (found by label), and reads status back. It never reads the database:
tenants/tasks.py and endpoints/tasks.py render the objects and hand them over."""

from django.conf import settings

from workers.backends.kube import get_kube_client
from workers.backends.labels import (
    ENDPOINT_KINDS,
    ENDPOINT_LABEL,
    ENDPOINTS_SELECTOR,
    MANAGED_BY,
    QUOTA_NAME,
    TENANT_KINDS,
    TENANT_LABEL,
    TENANT_SELECTOR,
    endpoint_selector,
)
from workers.backends.targets import EndpointObject, TenantSurvey
from workers.errors import NamespaceTerminating, PermanentError, TransientError
from workers.pod_status import StatusTally


def _terminating(obj):
    return bool(obj["metadata"].get("deletionTimestamp"))


def _key(manifest):
    meta = manifest["metadata"]
    return manifest["kind"], meta.get("namespace"), meta["name"]


# Where each kind keeps its replica count: scaling patches these fields and nothing else.
def replica_fields(obj):
    """The part of a rendered object that a scale changes, as a merge patch, or None."""
    if obj["kind"] == "Deployment":
        return {"spec": {"replicas": obj["spec"].get("replicas", 1)}}
    if obj["kind"] == "InferenceService":
        predictor = obj["spec"].get("predictor", {})
        fields = {k: predictor[k] for k in ("minReplicas", "maxReplicas") if k in predictor}
        return {"spec": {"predictor": fields}} if fields else None
    return None


AUTH_TLS_SECRET_ANNOTATION = "nginx.ingress.kubernetes.io/auth-tls-secret"


def verifies_client_certificates(obj):
    """Whether the object is an Ingress that checks client certificates against a CA secret."""
    annotations = obj["metadata"].get("annotations") or {}
    return obj["kind"] == "Ingress" and AUTH_TLS_SECRET_ANNOTATION in annotations


class KubernetesOrchestrator:
    name = "kubernetes"

    def __init__(self, kube=None):
        self.kube = kube or get_kube_client()

    def platform_tls_secret(self):
        """The `data` of the platform's TLS secret that every tenant namespace gets a copy of;
        None when MODELPORT_TLS_SECRET is unset."""
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

    # --- tenants ------------------------------------------------------------------------------

    def apply_tenant(self, namespace, manifests):
        """Apply every object (idempotent), then remove ours that are no longer rendered. A
        namespace someone deleted is Terminating until it is empty: applying to it succeeds for
        objects that exist and is refused for new ones, so say that it is going and retry."""
        for manifest in manifests:
            applied = self.kube.apply(manifest)
            if manifest["kind"] == "Namespace" and _terminating(applied):
                raise NamespaceTerminating(
                    f"Namespace {namespace} was deleted outside Modelport and is still "
                    "terminating; it is made again once it is gone."
                )
        wanted = {_key(m) for m in manifests}
        for kind in TENANT_KINDS:
            for item in self.kube.list(kind, namespace, TENANT_SELECTOR):
                if _key(item) not in wanted:
                    self.kube.delete(kind, item["metadata"]["name"], namespace)

    def delete_tenant(self, namespace):
        """Delete the namespace (and so all in it); done once the API server says it is gone."""
        found = self.kube.get("Namespace", namespace)
        if found is not None and found["metadata"].get("labels", {}).get(MANAGED_BY) != "modelport":
            raise PermanentError(f"Namespace {namespace} exists but was not made by Modelport.")
        self.kube.delete("Namespace", namespace)
        if self.kube.get("Namespace", namespace) is not None:
            raise TransientError(f"Namespace {namespace} is still terminating.")

    def managed_tenant_names(self):
        """Names of namespaces labelled as tenants of ours, except those already terminating
        (deleting them again would change nothing): one API call."""
        items = self.kube.list("Namespace", label_selector=TENANT_SELECTOR)
        return {item["metadata"]["name"] for item in items if not _terminating(item)}

    def survey_tenants(self, wanted):
        """`wanted` is {namespace: its rendered objects}. One list per tenant kind, however many
        tenants, read page by page and kept only as keys: which namespaces miss an object
        (drift), and what each namespace's ResourceQuota reports as used."""
        present, quota_used = set(), {}
        for kind in ("Namespace", *TENANT_KINDS):
            for item in self.kube.pages(kind, label_selector=TENANT_SELECTOR):
                # A terminating namespace is as good as missing: its objects are going too.
                if item["metadata"].get("labels", {}).get(TENANT_LABEL) and not _terminating(item):
                    _, namespace, name = key = _key(item)
                    present.add(key)
                    if kind == "ResourceQuota" and name == QUOTA_NAME:
                        quota_used[namespace] = (item.get("status") or {}).get("used", {})
        drifted = [
            namespace
            for namespace, manifests in wanted.items()
            if any(_key(m) not in present for m in manifests)
        ]
        return TenantSurvey(drifted, quota_used)

    def delete_orphan(self, name):
        self.kube.delete("Namespace", name)

    # --- endpoints ---------------------------------------------------------------------------

    def apply_endpoint(self, target):
        """Apply every object the serving template rendered, then delete this endpoint's objects
        that it no longer renders (found by label)."""
        if not target.client_ca and any(map(verifies_client_certificates, target.manifests)):
            # ingress-nginx denies every request to a location whose CA secret is missing: say
            # why now rather than publish an endpoint nobody can call.
            raise PermanentError(
                f"Tenant {target.namespace} has no client CA certificate, so the ingress can't "
                "verify clients; a platform admin must give the tenant its CA."
            )
        for manifest in target.manifests:
            self.kube.apply(manifest)
        wanted = {_key(m) for m in target.manifests}
        self._delete_endpoint_objects(target.namespace, target.name, keep=wanted)

    def scale_endpoint(self, target):
        """Patch the replica fields alone; an object that is missing is applied whole."""
        for manifest in target.manifests:
            fields = replica_fields(manifest)
            if fields is None:
                continue
            meta = manifest["metadata"]
            if self.kube.patch(manifest["kind"], meta["name"], meta["namespace"], fields) is None:
                self.kube.apply(manifest)

    def _delete_endpoint_objects(self, namespace, name, keep=frozenset()):
        """Delete the endpoint's objects (found by label) except `keep`; returns how many."""
        deleted = 0
        for kind in ENDPOINT_KINDS:
            for item in self.kube.list(kind, namespace, endpoint_selector(name)):
                if _key(item) not in keep:
                    self.kube.delete(kind, item["metadata"]["name"], namespace)
                    deleted += 1
        return deleted

    def delete_endpoint(self, namespace, name):
        """Delete every object of the endpoint; done when a second look finds none left."""
        if self._delete_endpoint_objects(namespace, name) and self._delete_endpoint_objects(
            namespace, name
        ):
            raise TransientError(f"Objects of endpoint {name} are still being deleted.")

    def endpoint_statuses(self, replicas):
        """{(namespace, name): EndpointStatus} for the endpoints in `replicas` ({(namespace,
        name): desired replicas}), from two lists across all namespaces, however many tenants:
        the endpoint pods and the endpoint Deployments, counted page by page."""
        tally = StatusTally(replicas, ENDPOINT_LABEL)
        for pod in self.kube.pages("Pod", label_selector=ENDPOINTS_SELECTOR):
            tally.add_pod(pod)
        for deployment in self.kube.pages("Deployment", label_selector=ENDPOINTS_SELECTOR):
            tally.add_deployment(deployment)
        return tally.result()

    def endpoint_objects(self):
        """Every endpoint object of ours in the cluster: one list per kind, read page by page."""
        return [
            EndpointObject(
                kind,
                item["metadata"]["namespace"],
                item["metadata"]["name"],
                item["metadata"]["labels"][ENDPOINT_LABEL],
            )
            for kind in ENDPOINT_KINDS
            for item in self.kube.pages(kind, label_selector=ENDPOINTS_SELECTOR)
            if item["metadata"].get("labels", {}).get(ENDPOINT_LABEL)
        ]

    def delete_endpoint_object(self, obj):
        self.kube.delete(obj.kind, obj.name, obj.namespace)

    def endpoint_backends(self, target):
        """Where the gateway sends an endpoint's calls: its Service's `http` port inside the
        cluster (or KServe's predictor Service); [] while no replica is available."""
        if not target.available:
            return []
        for manifest in target.manifests:
            name = manifest["metadata"]["name"]
            if manifest["kind"] == "InferenceService":
                return [f"http://{name}-predictor.{target.namespace}.svc.cluster.local"]
            if manifest["kind"] == "Service":
                for port in manifest["spec"].get("ports", []):
                    if port.get("name") == "http":
                        return [
                            f"http://{name}.{target.namespace}.svc.cluster.local:{port['port']}"
                        ]
        return []

    def check(self):
        self.kube.version()
