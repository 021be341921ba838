"""The tenant's worker side: make the cluster (namespace, quota, limits, network policies, RBAC,
secrets) and storage (the bucket) match the row, write observed state back, and repair drift."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core import audit
from core.phase import Phase
from tenants.manifests import tenant_manifests
from tenants.models import Tenant
from tenants.signals import tenant_reconciled
from workers.backends import get_orchestrator
from workers.errors import NamespaceTerminating, PermanentError, TransientError
from workers.reconcile import RECONCILE, count_generation_lag, count_repairs, observe, retry_or_fail
from workers.storage import get_object_store

logger = logging.getLogger(__name__)


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
    orchestrator = get_orchestrator()
    bindings = list(tenant.bindings.values_list("group", "role"))
    manifests = tenant_manifests(tenant, bindings, orchestrator.platform_tls_secret())
    try:
        orchestrator.apply_tenant(tenant.namespace, manifests)
    except NamespaceTerminating as exc:
        if deletion_requested(tenant.pk):
            return "deleting"  # the deletion started after this task read the row
        # Not Ready while the namespace goes: new objects can't be made in it.
        _observe(tenant.pk, finished=False, phase=Phase.PROVISIONING, message=str(exc))
        raise
    get_object_store().ensure_bucket(tenant.bucket)
    _observe(tenant.pk, phase=Phase.READY, message="", observed_generation=generation)
    count_generation_lag("tenant", tenant)
    tenant_reconciled.send(sender=Tenant, tenant=tenant)
    return "ready"


def _delete_tenant(tenant):
    _observe(
        tenant.pk,
        finished=False,
        phase=Phase.DELETING,
        message="Removing the bucket and the namespace.",
    )
    get_object_store().delete_bucket(tenant.bucket)
    get_orchestrator().delete_tenant(tenant.namespace)
    with transaction.atomic():
        tenant.delete()
        audit.record("removed", "tenant", tenant.name, tenant=tenant.name)
    return "deleted"


def deletion_requested(pk):
    """Whether the tenant's deletion has been asked for (or the row is gone) by now: a task that
    read the row earlier and then meets its namespace terminating asks this."""
    return not Tenant.objects.filter(pk=pk, deletion_requested_at__isnull=True).exists()


def due_for_reconcile(queryset):
    """Rows changed more than a resync period ago whose task has not caught up (it was lost, or
    gave up), and rows not reconciled for a long time (to repair edits made behind our back)."""
    now = timezone.now()
    settled = now - timedelta(seconds=settings.MODELPORT_RESYNC_SECONDS)
    stale = now - timedelta(seconds=settings.MODELPORT_RESYNC_STALE_SECONDS)
    return queryset.filter(
        Q(observed_generation__lt=F("generation"), updated_at__lt=settled)
        | Q(reconciled_at__isnull=True, created_at__lt=settled)
        | Q(reconciled_at__lt=stale)
    )


@shared_task(acks_late=True)
def resync_tenants():
    """Level-based repair, run by beat: re-enqueue tenants that lag or are stale, reconcile
    tenants whose objects went missing, and remove namespaces of ours that have no tenant."""
    try:
        return _resync(get_orchestrator())
    except (TransientError, PermanentError) as exc:
        # Beat runs this again next period; nothing is lost by skipping one.
        logger.warning("resync of tenants skipped: %s", exc)
        return {"skipped": str(exc)}


def _resync(orchestrator):
    # Cluster first, database second: a tenant's row always exists before its namespace, so a
    # namespace seen here without a row is a real orphan, not one being created.
    managed = orchestrator.managed_tenant_names()

    due = set(due_for_reconcile(Tenant.objects.all()).values_list("pk", flat=True))
    ready = list(
        Tenant.objects.filter(
            phase=Phase.READY, deletion_requested_at__isnull=True
        ).prefetch_related("bindings")
    )
    tls = orchestrator.platform_tls_secret()
    wanted = {
        tenant.namespace: tenant_manifests(
            tenant, [(b.group, b.role) for b in tenant.bindings.all()], tls
        )
        for tenant in ready
    }
    survey = orchestrator.survey_tenants(wanted)
    drifted = set(survey.drifted)
    drifted_pks = {tenant.pk for tenant in ready if tenant.namespace in drifted}
    due |= drifted_pks
    for tenant in ready:
        used = survey.quota_used.get(tenant.namespace, {})
        if used != tenant.quota_used:
            Tenant.objects.filter(pk=tenant.pk).update(quota_used=used)
    for pk in sorted(due):
        reconcile_tenant.delay(pk=pk)

    orphans = managed - set(Tenant.objects.values_list("name", flat=True))
    for name in sorted(orphans):
        logger.warning("removing orphaned tenant namespace %s", name)
        orchestrator.delete_orphan(name)
    count_repairs(
        "tenant",
        requeued=len(due - drifted_pks),
        drift=len(drifted_pks),
        orphan=len(orphans),
    )
    return {"reconciled": len(due), "orphans_removed": len(orphans)}
