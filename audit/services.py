"""Writing audit records (as core.audit.changed is sent) and removing them once retention is
over."""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from audit.models import AuditRecord

logger = logging.getLogger(__name__)


def write_record(sender, *, actor, action, kind, name, tenant, changes, request_id, **kwargs):
    logger.info(
        "%s %s %s %s%s through %s",
        actor.name,
        action,
        kind,
        f"{tenant}/" if tenant and kind != "tenant" else "",
        name,
        actor.door,
        extra={"actor": actor.name, "action": action, "kind": kind, "tenant": tenant},
    )
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
