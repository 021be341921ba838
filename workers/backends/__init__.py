"""Orchestrators: what turns a tenant and its endpoints into running things.

`kubernetes` drives a cluster through its API server; `local` runs everything on this machine for
the embedded default. Both offer the same methods and take plain targets (a namespace and its
rendered objects, an `EndpointTarget`; see targets.py), never rows: the apps that own the rows
render them and call these. MODELPORT_ORCHESTRATOR picks one.
"""

from django.conf import settings

from workers.backends.kubernetes import KubernetesOrchestrator
from workers.backends.local import LocalOrchestrator


def get_orchestrator():
    if settings.MODELPORT_ORCHESTRATOR == "kubernetes":
        return KubernetesOrchestrator()
    return LocalOrchestrator()
