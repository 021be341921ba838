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
from django.db.models import F, Q
from django.utils import timezone

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


def _observe(pk, *, finished=True, **fields):
    """Write observed state. `reconciled_at` records the end of a reconcile, not progress."""
    if finished:
        fields["reconciled_at"] = timezone.now()
    Tenant.objects.filter(pk=pk).update(**fields)


def _retry_or_fail(task, pk, exc):
    if task.request.retries >= task.max_retries:
        _observe(pk, phase=Phase.FAILED, message=f"Gave up after {task.max_retries} retries: {exc}")
        logger.error("reconcile of tenant %s gave up: %s", pk, exc)
        return
    _observe(pk, finished=False, message=f"Retrying: {exc}")
    raise task.retry(exc=exc, countdown=backoff(task.request.retries))


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
        return _retry_or_fail(self, pk, exc)
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
    return {"reconciled": len(due), "orphans_removed": len(orphans)}


# Model store tasks live in their own module; importing it here registers them with Celery.
from workers import model_tasks  # noqa: E402, F401
