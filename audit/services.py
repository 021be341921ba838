"""Writing audit records (as core.audit.changed is sent) and removing them once retention is
over."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from audit.models import AuditRecord


def write_record(sender, *, actor, action, kind, name, tenant, changes, request_id, **kwargs):
    AuditRecord.objects.create(
        actor_kind=actor.kind,
        actor=actor.name,
        door=actor.door,
        action=action,
        kind=kind,
        tenant=tenant,
        name=name,
        request_id=request_id,
        changes=changes,
    )


def purge_expired(now=None):
    """Remove records older than MODELPORT_AUDIT_RETENTION_DAYS; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.MODELPORT_AUDIT_RETENTION_DAYS)
    deleted, _ = AuditRecord.objects.filter(time__lt=cutoff).purge()
    return deleted
