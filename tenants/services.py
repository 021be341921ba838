"""Writes to tenants. Each records desired state in one transaction and, once it commits,
asks a worker to make the cluster and storage match."""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from portal.api.exceptions import Conflict
from tenants.models import Role, Tenant, TenantBinding
from workers.tasks import reconcile_tenant


def schedule_reconcile(tenant_pk):
    transaction.on_commit(lambda: reconcile_tenant.delay(pk=tenant_pk))


def create_tenant(*, name, scope, ca_cert, quota, created_by):
    existing = Tenant.objects.filter(name=name).first()
    if existing is not None:
        if existing.deletion_requested_at:
            raise Conflict(
                "tenant_deleting",
                f"Tenant {name!r} is still being deleted; try again when it is gone.",
            )
        raise Conflict("tenant_exists", f"A tenant called {name!r} already exists.")
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(
                name=name, scope=scope, ca_cert=ca_cert, quota=quota, created_by=created_by
            )
            bind_scope(tenant)
            schedule_reconcile(tenant.pk)
    except IntegrityError:
        raise Conflict("tenant_exists", f"A tenant called {name!r} already exists.") from None
    return tenant


def bind_scope(tenant):
    """The tenant's scope group gets the editor role, as the reference gives tenant users."""
    TenantBinding.objects.get_or_create(
        tenant=tenant, group=tenant.scope, defaults={"role": Role.EDITOR}
    )


@transaction.atomic
def request_tenant_deletion(tenant):
    """Mark the tenant for deletion; the worker empties the bucket, removes the namespace, and
    then deletes the row. Asking twice is harmless."""
    if tenant.deletion_requested_at is None:
        now = timezone.now()
        Tenant.objects.filter(pk=tenant.pk).update(
            deletion_requested_at=now, generation=F("generation") + 1, updated_at=now
        )
    schedule_reconcile(tenant.pk)


def request_resync(tenants):
    for tenant in tenants:
        reconcile_tenant.delay(pk=tenant.pk)
