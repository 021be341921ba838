"""What the apps hand to an orchestrator, and what it reports back: plain values, never rows."""

from dataclasses import dataclass, field
from typing import NamedTuple


class EndpointObject(NamedTuple):
    """Something an orchestrator runs for an endpoint (a cluster object, a local process)."""

    kind: str
    namespace: str
    name: str
    endpoint: str


class TenantSurvey(NamedTuple):
    drifted: list  # namespaces with an object missing
    quota_used: dict  # namespace -> the ResourceQuota's status.used


@dataclass(frozen=True)
class ModelFiles:
    """One stored model version an endpoint serves: where its files are."""

    name: str
    version: int
    bucket: str
    prefix: str


@dataclass(frozen=True)
class EndpointTarget:
    """What an endpoint should be: the objects its serving template renders (the cluster runs
    them), its replica count, and the model versions its policy selects (what the local runtime
    loads). `available` says whether any replica is reported ready."""

    namespace: str
    name: str
    replicas: int
    manifests: list = field(default_factory=list)
    models: list = field(default_factory=list)  # ModelFiles
    nothing_selected: str = ""  # why `models` is empty, in a sentence
    client_ca: bool = False  # whether the tenant has a CA to check client certificates against
    available: bool = False
