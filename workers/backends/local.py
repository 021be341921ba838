import shutil

from django.conf import settings

from workers.backends import TenantSurvey
from workers.errors import PermanentError

LOCAL_ENDPOINTS_UNAVAILABLE = (
    "Endpoints need MODELPORT_ORCHESTRATOR=kubernetes until the local model runtime lands; "
    "this endpoint has not been started."
)


class LocalOrchestrator:
    """The embedded default: each tenant gets a runtime folder on this machine (model-server
    logs and caches live there); storage is the filesystem object store."""

    name = "local"

    @property
    def root(self):
        return settings.DATA_DIR / "runtime"

    def apply_tenant(self, tenant, bindings):
        (self.root / tenant.name).mkdir(parents=True, exist_ok=True)

    def delete_tenant(self, tenant):
        shutil.rmtree(self.root / tenant.name, ignore_errors=True)

    def managed_tenant_names(self):
        if not self.root.is_dir():
            return set()
        return {path.name for path in self.root.iterdir() if path.is_dir()}

    def survey_tenants(self, tenants_with_bindings):
        drifted = [t for t, _ in tenants_with_bindings if not (self.root / t.name).is_dir()]
        return TenantSurvey(drifted, quota_used={})

    def delete_orphan(self, name):
        shutil.rmtree(self.root / name, ignore_errors=True)

    # Endpoints: the local runtime (MLServer processes) is a later issue. Until then nothing is
    # started, and saying so is the only honest status.
    def apply_endpoint(self, endpoint):
        raise PermanentError(LOCAL_ENDPOINTS_UNAVAILABLE)

    def scale_endpoint(self, endpoint):
        raise PermanentError(LOCAL_ENDPOINTS_UNAVAILABLE)

    def delete_endpoint(self, endpoint):
        """Nothing was started for it, so there is nothing to remove."""

    def endpoint_status(self, tenant, endpoints):
        """No runtime, no status to report: the endpoints keep their Failed phase."""
        return {}

    def endpoint_objects(self):
        return []

    def delete_endpoint_object(self, obj):
        """Never called: there are no local endpoint objects (see endpoint_objects)."""

    def check(self):
        self.root.mkdir(parents=True, exist_ok=True)
