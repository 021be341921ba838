import shutil

from django.conf import settings

from endpoints.validation import parse_version_policy
from models_store.models import ModelVersion, VersionState
from models_store.storage import get_object_store
from workers.backends import EndpointObject, TenantSurvey
from workers.backends.local_models import served_model
from workers.backends.local_runtime import LocalRuntime
from workers.errors import PermanentError
from workers.pod_status import EndpointStatus


class LocalOrchestrator:
    """The embedded default: everything runs on this machine. Each tenant gets a runtime folder;
    each endpoint is a set of MLServer processes (one per replica) serving the model versions
    its policy selects, from the filesystem store or a local copy of S3 objects. Every serving
    template is served by MLServer here; the model's files decide its runtime."""

    name = "local"

    @property
    def root(self):
        return settings.DATA_DIR / "runtime"

    @property
    def runtime(self):
        # Endpoints live in their tenant's runtime folder: <root>/<tenant>/<endpoint>/.
        return LocalRuntime(self.root, settings.MODELPORT_MLSERVER)

    # --- tenants ------------------------------------------------------------------------------

    def apply_tenant(self, tenant, bindings):
        (self.root / tenant.name).mkdir(parents=True, exist_ok=True)

    def delete_tenant(self, tenant):
        self._remove_tenant(tenant.name)

    def _remove_tenant(self, name):
        runtime = self.runtime
        for key in runtime.endpoint_keys():
            if key.startswith(f"{name}/"):
                runtime.stop(key)
        shutil.rmtree(self.root / name, ignore_errors=True)

    def managed_tenant_names(self):
        if not self.root.is_dir():
            return set()
        return {path.name for path in self.root.iterdir() if path.is_dir()}

    def survey_tenants(self, tenants_with_bindings):
        drifted = [t for t, _ in tenants_with_bindings if not (self.root / t.name).is_dir()]
        return TenantSurvey(drifted, quota_used={})

    def delete_orphan(self, name):
        self._remove_tenant(name)

    # --- endpoints ----------------------------------------------------------------------------

    @staticmethod
    def _key(endpoint):
        return f"{endpoint.tenant.name}/{endpoint.name}"

    def served_models(self, endpoint):
        """What the endpoint's version policy selects from the tenant's ready versions, as
        models MLServer can load from this machine's disk."""
        if not settings.MODELPORT_MLSERVER or not shutil.which(settings.MODELPORT_MLSERVER):
            raise PermanentError(
                f"MLServer is not installed at {settings.MODELPORT_MLSERVER}; `make run` installs "
                "it, or set MODELPORT_MLSERVER."
            )
        tenant = endpoint.tenant
        available = ModelVersion.objects.filter(
            tenant=tenant, name=endpoint.model_name, state=VersionState.READY
        ).values_list("version", flat=True)
        policy = parse_version_policy(endpoint.version_policy)
        versions = policy.select(available)
        if not versions:
            raise PermanentError(
                f"{endpoint.model_name} has no ready version that {policy.text} selects in "
                f"tenant {tenant.name}; upload one and the endpoint starts."
            )
        store = get_object_store()
        cache = settings.DATA_DIR / "cache"
        return [
            served_model(
                endpoint.model_name,
                version,
                store.local_copy(tenant.bucket, f"{endpoint.model_name}/{version}/", cache),
            )
            for version in versions
        ]

    def apply_endpoint(self, endpoint):
        self.runtime.ensure(self._key(endpoint), self.served_models(endpoint), endpoint.replicas)

    def scale_endpoint(self, endpoint):
        self.apply_endpoint(endpoint)

    def delete_endpoint(self, endpoint):
        self.runtime.stop(self._key(endpoint))

    def endpoint_status(self, tenant, endpoints):
        """Supervise each endpoint's processes (restarting crashed ones) and report them as a
        cluster reports pods."""
        statuses = {}
        for endpoint in endpoints:
            seen = self.runtime.supervise(self._key(endpoint))
            statuses[endpoint.name] = EndpointStatus(
                running=seen.running,
                pending=seen.pending,
                failed=seen.failed,
                available=seen.running,
                unavailable=max(0, endpoint.replicas - seen.running) or None,
                failure=seen.message if seen.failed else "",
            )
        return statuses

    def endpoint_backends(self, tenant, endpoint):
        """Ready replicas' URLs; None if there is no such endpoint."""
        from endpoints.models import Endpoint

        if not Endpoint.objects.filter(
            tenant__name=tenant, name=endpoint, deletion_requested_at__isnull=True
        ).exists():
            return None
        return self.runtime.ready_urls(f"{tenant}/{endpoint}")

    def endpoint_objects(self):
        """Every endpoint with processes on this machine: the runtime's folders."""
        objects = []
        for key in self.runtime.endpoint_keys():
            tenant, endpoint = key.split("/", 1)
            objects.append(EndpointObject("Process", tenant, endpoint, endpoint))
        return objects

    def delete_endpoint_object(self, obj):
        self.runtime.stop(f"{obj.namespace}/{obj.name}")

    def check(self):
        self.root.mkdir(parents=True, exist_ok=True)
