"""The endpoint's worker side: make the orchestrator run what the endpoint's serving template
renders (or, once deletion is requested, nothing), scale it, read its status back, and repair
drift."""

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from core import audit
from core.phase import Phase
from endpoints.models import Endpoint
from endpoints.targets import endpoint_target
from tenants.tasks import deletion_requested, due_for_reconcile
from workers.backends import get_orchestrator
from workers.errors import NamespaceTerminating, PermanentError, TransientError
from workers.reconcile import (
    RECONCILE,
    count_generation_lag,
    count_repairs,
    observe,
    retry_or_fail,
)

logger = logging.getLogger(__name__)


def _observe_endpoint(pk, **fields):
    observe(Endpoint, pk, **fields)


@shared_task(bind=True, **RECONCILE)
def reconcile_endpoint(self, *, pk):
    """Make the cluster hold exactly what the endpoint's serving template renders (or, once
    deletion is requested, nothing), then delete the row of a deleted endpoint."""
    endpoint = Endpoint.objects.select_related("tenant", "serving").filter(pk=pk).first()
    if endpoint is None:
        return "gone"
    try:
        if endpoint.deletion_requested_at:
            return _delete_endpoint(endpoint)
        return _apply_endpoint(endpoint)
    except TransientError as exc:
        return retry_or_fail(self, Endpoint, pk, exc)
    except PermanentError as exc:
        _observe_endpoint(pk, phase=Phase.FAILED, message=str(exc))
        logger.warning("reconcile of endpoint %s failed: %s", endpoint, exc)
        return "failed"


def _apply_endpoint(endpoint):
    tenant = endpoint.tenant
    if tenant.deletion_requested_at:
        return _stand_down(endpoint)
    if tenant.observed_generation == 0:
        raise TransientError(f"Tenant {tenant.name} is not provisioned yet.")
    generation = endpoint.generation
    if endpoint.phase in (Phase.PENDING, Phase.FAILED):
        _observe_endpoint(
            endpoint.pk, finished=False, phase=Phase.PROVISIONING, message="Applying the objects."
        )
    try:
        get_orchestrator().apply_endpoint(endpoint_target(endpoint))
    except NamespaceTerminating:
        # The tenant's deletion started after this task read the rows: its namespace refuses
        # new objects, and the endpoint goes with the tenant. Otherwise retry: the tenant's own
        # reconcile makes a namespace deleted outside Modelport again.
        if not deletion_requested(tenant.pk):
            raise
        return _stand_down(endpoint)
    _observe_endpoint(
        endpoint.pk,
        phase=Phase.PROVISIONING,
        message="Objects applied; waiting for the pods to become ready.",
        observed_generation=generation,
    )
    count_generation_lag("endpoint", endpoint)
    return "applied"


def _stand_down(endpoint):
    """Nothing to apply: the endpoint's tenant is being deleted, and the endpoint with it."""
    _observe_endpoint(
        endpoint.pk,
        phase=Phase.DELETING,
        message=f"Tenant {endpoint.tenant.name} is being deleted, and this endpoint with it.",
    )
    logger.info("endpoint %s not applied: its tenant is being deleted", endpoint)
    return "tenant deleting"


def _delete_endpoint(endpoint):
    _observe_endpoint(
        endpoint.pk, finished=False, phase=Phase.DELETING, message="Removing the objects."
    )
    get_orchestrator().delete_endpoint(endpoint.tenant.namespace, endpoint.name)
    with transaction.atomic():
        endpoint.delete()
        audit.record("removed", "endpoint", endpoint.name, tenant=endpoint.tenant.name)
    return "deleted"


@shared_task(bind=True, **RECONCILE)
def scale_endpoint(self, *, pk):
    """Set the replica count in the cluster, patching nothing else."""
    endpoint = Endpoint.objects.select_related("tenant", "serving").filter(pk=pk).first()
    if endpoint is None or endpoint.deletion_requested_at:
        return "gone"
    if not endpoint.is_up_to_date:
        # A reconcile is due; it applies the row's replica count along with everything else.
        return "reconcile pending"
    try:
        get_orchestrator().scale_endpoint(endpoint_target(endpoint))
    except TransientError as exc:
        return retry_or_fail(self, Endpoint, pk, exc)
    except PermanentError as exc:
        _observe_endpoint(pk, phase=Phase.FAILED, message=str(exc))
        return "failed"
    return "scaled"


def endpoint_phase(endpoint, status):
    """(phase, message) that the cluster's report means for an applied endpoint."""
    if status.failure:
        return Phase.FAILED, status.failure
    available = status.available or 0
    if available == endpoint.replicas and status.cluster_replicas in (None, endpoint.replicas):
        return Phase.READY, ""
    return Phase.PROVISIONING, f"{available} of {endpoint.replicas} replicas available."


@shared_task(acks_late=True)
def sync_endpoint_status():
    """Read the endpoints' pods and Deployments (two lists for the whole cluster, never one per
    tenant or endpoint) and write pod counts, replicas and the phase of every applied endpoint.
    Run by beat."""
    endpoints = list(
        Endpoint.objects.filter(deletion_requested_at__isnull=True, observed_generation__gt=0)
        .select_related("tenant")
        .order_by("tenant_id", "name")
    )
    try:
        statuses = get_orchestrator().endpoint_statuses(
            {(e.tenant.namespace, e.name): e.replicas for e in endpoints}
        )
    except (TransientError, PermanentError) as exc:
        logger.warning("status of endpoints skipped: %s", exc)
        return {"skipped": str(exc)}
    now = timezone.now()
    updated = []
    scaled = 0
    for endpoint in endpoints:
        status = statuses.get((endpoint.tenant.namespace, endpoint.name))
        if status is None:
            continue
        if _observe_status(endpoint, status, now):
            updated.append(endpoint)
        if status.cluster_replicas not in (None, endpoint.replicas):
            scale_endpoint.delay(pk=endpoint.pk)
            scaled += 1
    tenants = len({endpoint.tenant_id for endpoint in endpoints})
    return {"tenants": tenants, "changed": _save_status(updated), "rescaled": scaled}


_COUNT_FIELDS = (
    "running_pods",
    "pending_pods",
    "failed_pods",
    "available_replicas",
    "unavailable_replicas",
    "status_synced_at",
)
_PHASE_FIELDS = ("phase", "message")


def _observe_status(endpoint, status, now):
    """Set the reported status on `endpoint` (not saved); returns whether anything changed."""
    values = {
        "running_pods": status.running,
        "pending_pods": status.pending,
        "failed_pods": status.failed,
        "available_replicas": status.available,
        "unavailable_replicas": status.unavailable,
    }
    if endpoint.is_up_to_date:
        values["phase"], values["message"] = endpoint_phase(endpoint, status)
    if all(getattr(endpoint, field) == value for field, value in values.items()):
        return False
    for field, value in {**values, "status_synced_at": now}.items():
        setattr(endpoint, field, value)
    return True


def _save_status(endpoints):
    """Write the endpoints' status in one transaction, skipping any that changed meanwhile: a newer
    spec (its phase is the next reconcile's to decide) or a deletion wins."""
    if not endpoints:
        return 0
    with transaction.atomic():
        current = dict(
            Endpoint.objects.select_for_update()
            .filter(pk__in=[e.pk for e in endpoints], deletion_requested_at__isnull=True)
            .values_list("pk", "generation")
        )
        unchanged = [e for e in endpoints if current.get(e.pk) == e.generation]
        # The phase is the status task's to write only once the current spec is applied.
        applied = [e for e in unchanged if e.is_up_to_date]
        Endpoint.objects.bulk_update(applied, _COUNT_FIELDS + _PHASE_FIELDS, batch_size=500)
        pending = [e for e in unchanged if not e.is_up_to_date]
        Endpoint.objects.bulk_update(pending, _COUNT_FIELDS, batch_size=500)
    return len(unchanged)


@shared_task(acks_late=True)
def resync_endpoints():
    """Level-based repair, run by beat: re-enqueue endpoints whose reconcile lags or is stale,
    and remove endpoint objects of ours whose endpoint row is gone."""
    try:
        return _resync(get_orchestrator())
    except (TransientError, PermanentError) as exc:
        logger.warning("resync of endpoints skipped: %s", exc)
        return {"skipped": str(exc)}


def _resync(orchestrator):
    # Cluster first, database second: an endpoint's row always exists before its objects.
    present = orchestrator.endpoint_objects()
    # A tenant being deleted takes its endpoints along with its namespace.
    due = list(
        due_for_reconcile(
            Endpoint.objects.filter(tenant__deletion_requested_at__isnull=True)
        ).values_list("pk", flat=True)
    )
    for pk in sorted(due):
        reconcile_endpoint.delay(pk=pk)
    known = set(Endpoint.objects.values_list("tenant__name", "name"))
    orphans = [obj for obj in present if (obj.namespace, obj.endpoint) not in known]
    for obj in orphans:
        logger.warning("removing orphaned %s %s/%s", obj.kind, obj.namespace, obj.name)
        orchestrator.delete_endpoint_object(obj)
    count_repairs("endpoint", requeued=len(due), orphan=len(orphans))
    return {"endpoints_reconciled": len(due), "endpoint_objects_removed": len(orphans)}
