"""Celery tasks: push desired state to the orchestrator and storage, write observed state back.

Tasks take primary keys (keyword-only), are safe to run twice, and are acknowledged late so a
worker that dies mid-task leaves the message for another. Transient failures retry with
exponential backoff and jitter; permanent ones are written to the row for people to read.
"""

import logging
import random
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from endpoints.models import Endpoint
from models_store.storage import get_object_store
from tenants.models import Phase, Tenant
from workers.backends import get_orchestrator
from workers.errors import PermanentError, TransientError

logger = logging.getLogger(__name__)

MAX_RETRIES = 8
BACKOFF_BASE_SECONDS = 2
BACKOFF_CAP_SECONDS = 300

RECONCILE = {"acks_late": True, "reject_on_worker_lost": True, "max_retries": MAX_RETRIES}


def backoff(retries):
    """Exponential backoff with equal jitter: half fixed, half random, capped."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security


def observe(model, pk, *, finished=True, **fields):
    """Write a row's observed state. `reconciled_at` marks the end of a reconcile, not progress."""
    if finished:
        fields["reconciled_at"] = timezone.now()
    model.objects.filter(pk=pk).update(**fields)


def retry_or_fail(task, model, pk, exc):
    """A transient failure: say so on the row and retry later, or give up (Failed) when the
    task has used its retries."""
    if task.request.retries >= task.max_retries:
        message = f"Gave up after {task.max_retries} retries: {exc}"
        observe(model, pk, phase=Phase.FAILED, message=message)
        logger.error("%s of %s %s gave up: %s", task.name, model.__name__, pk, exc)
        return "failed"
    observe(model, pk, finished=False, message=f"Retrying: {exc}")
    raise task.retry(exc=exc, countdown=backoff(task.request.retries))


def _observe(pk, **fields):
    observe(Tenant, pk, **fields)


@shared_task(bind=True, **RECONCILE)
def reconcile_tenant(self, *, pk):
    tenant = Tenant.objects.filter(pk=pk).first()
    if tenant is None:
        return "gone"
    try:
        if tenant.deletion_requested_at:
            return _delete_tenant(tenant)
        return _provision_tenant(tenant)
    except TransientError as exc:
        return retry_or_fail(self, Tenant, pk, exc)
    except PermanentError as exc:
        _observe(pk, phase=Phase.FAILED, message=str(exc))
        logger.warning("reconcile of tenant %s failed: %s", tenant.name, exc)
        return "failed"


def _provision_tenant(tenant):
    generation = tenant.generation
    if tenant.phase in (Phase.PENDING, Phase.FAILED):
        _observe(
            tenant.pk,
            finished=False,
            phase=Phase.PROVISIONING,
            message="Creating the namespace and bucket.",
        )
    bindings = list(tenant.bindings.values_list("group", "role"))
    get_orchestrator().apply_tenant(tenant, bindings)
    get_object_store().ensure_bucket(tenant.bucket)
    _observe(tenant.pk, phase=Phase.READY, message="", observed_generation=generation)
    # Endpoints that lag may have been waiting for this (the namespace, or a CA just given):
    # try them now rather than at the next resync.
    lagging = Endpoint.objects.filter(tenant=tenant, observed_generation__lt=F("generation"))
    for pk in lagging.values_list("pk", flat=True):
        reconcile_endpoint.delay(pk=pk)
    return "ready"


def _delete_tenant(tenant):
    _observe(
        tenant.pk,
        finished=False,
        phase=Phase.DELETING,
        message="Removing the bucket and the namespace.",
    )
    get_object_store().delete_bucket(tenant.bucket)
    get_orchestrator().delete_tenant(tenant)
    tenant.delete()
    return "deleted"


@shared_task(acks_late=True)
def resync():
    """Level-based repair, run by beat: re-enqueue rows that lag or are stale, reconcile tenants
    whose objects went missing, and remove namespaces of ours that have no tenant."""
    try:
        return _resync(get_orchestrator())
    except (TransientError, PermanentError) as exc:
        # Beat runs this again next period; nothing is lost by skipping one.
        logger.warning("resync skipped: %s", exc)
        return {"skipped": str(exc)}


def _resync(orchestrator):
    # Cluster first, database second: a tenant's row always exists before its namespace, so a
    # namespace seen here without a row is a real orphan, not one being created.
    managed = orchestrator.managed_tenant_names()

    now = timezone.now()
    # Rows changed more than a period ago whose task has not caught up (it was lost, or gave
    # up), and rows not reconciled for a long time (to repair edits made behind our back).
    settled = now - timedelta(seconds=settings.MODELPORT_RESYNC_SECONDS)
    stale = now - timedelta(seconds=settings.MODELPORT_RESYNC_STALE_SECONDS)
    due = set(
        Tenant.objects.filter(
            Q(observed_generation__lt=F("generation"), updated_at__lt=settled)
            | Q(reconciled_at__isnull=True, created_at__lt=settled)
            | Q(reconciled_at__lt=stale)
        ).values_list("pk", flat=True)
    )
    ready = Tenant.objects.filter(
        phase=Phase.READY, deletion_requested_at__isnull=True
    ).prefetch_related("bindings")
    pairs = [(t, [(b.group, b.role) for b in t.bindings.all()]) for t in ready]
    survey = orchestrator.survey_tenants(pairs)
    due.update(t.pk for t in survey.drifted)
    for tenant, _ in pairs:
        used = survey.quota_used.get(tenant.namespace, {})
        if used != tenant.quota_used:
            Tenant.objects.filter(pk=tenant.pk).update(quota_used=used)
    for pk in sorted(due):
        reconcile_tenant.delay(pk=pk)

    orphans = managed - set(Tenant.objects.values_list("name", flat=True))
    for name in sorted(orphans):
        logger.warning("removing orphaned tenant namespace %s", name)
        orchestrator.delete_orphan(name)
    endpoints = _resync_endpoints(orchestrator, settled, stale)
    return {"reconciled": len(due), "orphans_removed": len(orphans), **endpoints}


# --- Endpoints ------------------------------------------------------------------------------


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
        raise PermanentError(f"Tenant {tenant.name} is being deleted.")
    if tenant.observed_generation == 0:
        raise TransientError(f"Tenant {tenant.name} is not provisioned yet.")
    generation = endpoint.generation
    if endpoint.phase in (Phase.PENDING, Phase.FAILED):
        _observe_endpoint(
            endpoint.pk, finished=False, phase=Phase.PROVISIONING, message="Applying the objects."
        )
    get_orchestrator().apply_endpoint(endpoint)
    _observe_endpoint(
        endpoint.pk,
        phase=Phase.PROVISIONING,
        message="Objects applied; waiting for the pods to become ready.",
        observed_generation=generation,
    )
    return "applied"


def _delete_endpoint(endpoint):
    _observe_endpoint(
        endpoint.pk, finished=False, phase=Phase.DELETING, message="Removing the objects."
    )
    get_orchestrator().delete_endpoint(endpoint)
    endpoint.delete()
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
        get_orchestrator().scale_endpoint(endpoint)
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
    """Read pods and Deployments once per tenant namespace (never per endpoint) and write pod
    counts, replicas and the phase of every applied endpoint. Run by beat."""
    orchestrator = get_orchestrator()
    endpoints = (
        Endpoint.objects.filter(deletion_requested_at__isnull=True, observed_generation__gt=0)
        .select_related("tenant")
        .order_by("tenant_id", "name")
    )
    by_tenant = {}
    for endpoint in endpoints:
        by_tenant.setdefault(endpoint.tenant_id, []).append(endpoint)
    now = timezone.now()
    changed = scaled = skipped = 0
    for group in by_tenant.values():
        tenant = group[0].tenant
        try:
            statuses = orchestrator.endpoint_status(tenant, group)
        except (TransientError, PermanentError) as exc:
            logger.warning("status of tenant %s endpoints skipped: %s", tenant.name, exc)
            skipped += 1
            continue
        updated = []
        for endpoint in group:
            status = statuses.get(endpoint.name)
            if status is None:
                continue
            if _observe_status(endpoint, status, now):
                updated.append(endpoint)
            if status.cluster_replicas not in (None, endpoint.replicas):
                scale_endpoint.delay(pk=endpoint.pk)
                scaled += 1
        changed += _save_status(updated)
    return {"tenants": len(by_tenant), "changed": changed, "rescaled": scaled, "skipped": skipped}


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
    """Write the endpoints' status in two queries, skipping any that changed meanwhile: a newer
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


def _resync_endpoints(orchestrator, settled, stale):
    """Re-enqueue endpoints whose reconcile lags or is stale; remove endpoint objects of ours
    whose endpoint row is gone."""
    present = orchestrator.endpoint_objects()
    due = list(
        Endpoint.objects.filter(
            Q(observed_generation__lt=F("generation"), updated_at__lt=settled)
            | Q(reconciled_at__isnull=True, created_at__lt=settled)
            | Q(reconciled_at__lt=stale),
            # A tenant being deleted takes its endpoints along with its namespace.
            tenant__deletion_requested_at__isnull=True,
        ).values_list("pk", flat=True)
    )
    for pk in sorted(due):
        reconcile_endpoint.delay(pk=pk)
    known = set(Endpoint.objects.values_list("tenant__name", "name"))
    orphans = [obj for obj in present if (obj.namespace, obj.endpoint) not in known]
    for obj in orphans:
        logger.warning("removing orphaned %s %s/%s", obj.kind, obj.namespace, obj.name)
        orchestrator.delete_endpoint_object(obj)
    return {"endpoints_reconciled": len(due), "endpoint_objects_removed": len(orphans)}


# Model store tasks live in their own module; importing it here registers them with Celery.
from workers import model_tasks  # noqa: E402, F401
