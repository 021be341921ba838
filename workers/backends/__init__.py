"""Orchestrators: what turns a tenant and its endpoints into running things.

`kubernetes` drives a cluster through its API server; `local` runs everything on this machine for
the embedded default. Both offer the same methods and take plain targets (a namespace and its
rendered objects, an `EndpointTarget`; see targets.py), never rows: the apps that own the rows
render them and call these. MODELPORT_ORCHESTRATOR picks one.
"""

from django.conf import settings

from workers.backends.kubernetes import KubernetesOrchestrator
from workers.backends.local import LocalOrchestrator
from workers.backends.local_models import description


def get_orchestrator():
    if settings.MODELPORT_ORCHESTRATOR == "kubernetes":
        return KubernetesOrchestrator()
    return LocalOrchestrator()


def describe_runtime():
    """What endpoints run on: the orchestrator and, for this machine's runtime, the model
    formats it serves with the versions of the libraries that load them. A cluster's formats
    are its serving templates' images' to decide."""
    if settings.MODELPORT_ORCHESTRATOR == "kubernetes":
        return {"orchestrator": "kubernetes", "formats": [], "libraries": {}}
    return {
        "orchestrator": "local",
        **description(settings.MODELPORT_MLSERVER, settings.MODELPORT_LLAMA_PYTHON),
    }
