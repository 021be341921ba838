import shutil

from django.conf import settings

from workers.backends import TenantSurvey
from workers.backends.local_runtime import LocalRuntime


class LocalOrchestrator:
    """The embedded default: each tenant gets a runtime folder on this machine (model-server
    logs and caches live there); storage is the filesystem object store."""

    name = "local"

    @property
    def root(self):
        return settings.DATA_DIR / "runtime"

    @property
    def runtime(self):
        # Endpoints live in their tenant's runtime folder: <root>/<tenant>/<endpoint>/.
        return LocalRuntime(self.root, settings.MODELPORT_MLSERVER)

    def endpoint_backends(self, tenant, endpoint):
        """Ready replicas' URLs; None if this machine runs no such endpoint."""
        key = f"{tenant}/{endpoint}"
        if key not in self.runtime.endpoint_keys():
            return None
        return self.runtime.ready_urls(key)

    def apply_tenant(self, tenant, bindings):
        (self.root / tenant.name).mkdir(parents=True, exist_ok=True)

    def delete_tenant(self, tenant):
        for key in self.runtime.endpoint_keys():
            if key.startswith(f"{tenant.name}/"):
                self.runtime.stop(key)
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

    def check(self):
        self.root.mkdir(parents=True, exist_ok=True)
