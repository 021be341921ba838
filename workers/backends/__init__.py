"""Orchestrators: what turns a tenant (and later an endpoint) into running things.

`kubernetes` drives a cluster through its API server; `local` runs everything on this machine for
the embedded default. Both offer the same methods; MODELPORT_ORCHESTRATOR picks one.
"""

from django.conf import settings


def get_orchestrator():
    if settings.MODELPORT_ORCHESTRATOR == "kubernetes":
        from workers.backends.kubernetes import KubernetesOrchestrator

        return KubernetesOrchestrator()
    from workers.backends.local import LocalOrchestrator

    return LocalOrchestrator()
