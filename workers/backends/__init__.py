"""Orchestrators: what turns a tenant (and later an endpoint) into running things.

`kubernetes` drives a cluster through its API server; `local` runs everything on this machine for
the embedded default. Both offer the same methods; MODELPORT_ORCHESTRATOR picks one.
"""

from typing import NamedTuple

from django.conf import settings


class EndpointObject(NamedTuple):
    """Something an orchestrator runs for an endpoint (a cluster object, a local process)."""

    kind: str
    namespace: str
    name: str
    endpoint: str


class TenantSurvey(NamedTuple):
    drifted: list  # tenants with an object missing
    quota_used: dict  # namespace -> the ResourceQuota's status.used


def get_orchestrator():
    if settings.MODELPORT_ORCHESTRATOR == "kubernetes":
        from workers.backends.kubernetes import KubernetesOrchestrator

        return KubernetesOrchestrator()
    from workers.backends.local import LocalOrchestrator

    return LocalOrchestrator()
