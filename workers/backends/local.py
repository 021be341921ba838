import shutil

from django.conf import settings

from workers.backends.local_models import check_one_server, served_model
from workers.backends.local_runtime import LocalRuntime
from workers.backends.model_servers import LLAMA_CPP
from workers.backends.targets import EndpointObject, TenantSurvey
from workers.errors import PermanentError
from workers.pod_status import EndpointStatus
from workers.storage import get_object_store


class LocalOrchestrator:
    """The embedded default: everything runs on this machine. Each tenant gets a runtime folder;
    each endpoint is a set of model-server processes (one per replica) serving the model versions
    its policy selects, from the filesystem store or a local copy of S3 objects: MLServer, or
    llama-cpp-python's server for a GGUF language model. The serving template does not matter
    here; the model's files decide its runtime."""

    name = "local"

    @property
    def root(self):
        return settings.DATA_DIR / "runtime"

    @property
    def runtime(self):
        # Endpoints live in their tenant's runtime folder: <root>/<tenant>/<endpoint>/.
        return LocalRuntime(
            self.root,
            settings.MODELPORT_MLSERVER,
            private=settings.DATA_DIR,
            llama_python=settings.MODELPORT_LLAMA_PYTHON,
        )

    def platform_tls_secret(self):
        return None  # nothing here terminates TLS with it

    # --- tenants ------------------------------------------------------------------------------

    def apply_tenant(self, namespace, manifests):
        (self.root / namespace).mkdir(parents=True, exist_ok=True)

    def delete_tenant(self, namespace):
        runtime = self.runtime
        for key in runtime.endpoint_keys():
            if key.startswith(f"{namespace}/"):
                runtime.stop(key)
        shutil.rmtree(self.root / namespace, ignore_errors=True)

    def managed_tenant_names(self):
        if not self.root.is_dir():
            return set()
        return {path.name for path in self.root.iterdir() if path.is_dir()}

    def survey_tenants(self, wanted):
        drifted = [namespace for namespace in wanted if not (self.root / namespace).is_dir()]
        return TenantSurvey(drifted, quota_used={})

    def delete_orphan(self, name):
        self.delete_tenant(name)

    # --- endpoints ----------------------------------------------------------------------------

    def served_models(self, target):
        """The model versions the endpoint's policy selected, as models its model server can load
        from this machine's disk."""
        if not target.models:
            raise PermanentError(target.nothing_selected)
        store = get_object_store()
        cache = settings.DATA_DIR / "cache"
        models = [
            served_model(
                model.name, model.version, store.local_copy(model.bucket, model.prefix, cache)
            )
            for model in target.models
        ]
        check_one_server(models)
        if models[0].implementation == LLAMA_CPP:
            if not shutil.which(settings.MODELPORT_LLAMA_PYTHON):
                raise PermanentError(
                    f"llama-cpp-python's server, which serves GGUF language models, is not "
                    f"installed at {settings.MODELPORT_LLAMA_PYTHON}; `make llm-server` builds "
                    "it, or set MODELPORT_LLAMA_PYTHON."
                )
        elif not settings.MODELPORT_MLSERVER or not shutil.which(settings.MODELPORT_MLSERVER):
            raise PermanentError(
                f"MLServer is not installed at {settings.MODELPORT_MLSERVER}; `make run` installs "
                "it, or set MODELPORT_MLSERVER."
            )
        return models

    def apply_endpoint(self, target):
        key = f"{target.namespace}/{target.name}"
        self.runtime.ensure(key, self.served_models(target), target.replicas)

    def scale_endpoint(self, target):
        self.apply_endpoint(target)

    def delete_endpoint(self, namespace, name):
        self.runtime.stop(f"{namespace}/{name}")

    def endpoint_statuses(self, replicas):
        """Supervise each endpoint's processes (restarting crashed ones) and report them as a
        cluster reports pods: {(namespace, name): EndpointStatus} for `replicas` ({(namespace,
        name): desired replicas})."""
        statuses = {}
        for (namespace, name), wanted in replicas.items():
            seen = self.runtime.supervise(f"{namespace}/{name}")
            statuses[namespace, name] = EndpointStatus(
                running=seen.running,
                pending=seen.pending,
                failed=seen.failed,
                available=seen.running,
                unavailable=max(0, wanted - seen.running) or None,
                failure=seen.message if seen.failed else "",
            )
        return statuses

    def endpoint_backends(self, target):
        """The URLs of the endpoint's ready replicas."""
        return self.runtime.ready_urls(f"{target.namespace}/{target.name}")

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
