"""Writes to tenants. Each records desired state in one transaction and, once it commits,
asks a worker to make the cluster and storage match."""

import hashlib

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core import audit
from core.errors import Conflict
from core.signals import answers
from tenants.errors import TenantErrorCode
from tenants.models import Role, Tenant, TenantBinding
from tenants.signals import ca_removal_requested
from tenants.tasks import reconcile_tenant
from workers.reconcile import enqueue_after_commit


def schedule_reconcile(tenant_pk):
    enqueue_after_commit(reconcile_tenant, pk=tenant_pk)


def create_tenant(*, name, scope, ca_cert, quota, created_by):
    existing = Tenant.objects.filter(name=name).first()
    if existing is not None:
        if existing.deletion_requested_at:
            raise Conflict(
                TenantErrorCode.TENANT_DELETING,
                f"Tenant {name!r} is still being deleted; try again when it is gone.",
            )
        raise Conflict(TenantErrorCode.TENANT_EXISTS, f"A tenant called {name!r} already exists.")
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(
                name=name, scope=scope, ca_cert=ca_cert, quota=quota, created_by=created_by
            )
            audit.record("create", "tenant", name, tenant=name, after=audited(tenant))
            bind_scope(tenant)
            schedule_reconcile(tenant.pk)
    except IntegrityError:
        raise Conflict(
            TenantErrorCode.TENANT_EXISTS, f"A tenant called {name!r} already exists."
        ) from None
    return tenant


def audited(tenant):
    """The tenant's desired state as the audit trail shows it: the CA by its fingerprint."""
    ca = tenant.ca_cert
    fingerprint = "sha256:" + hashlib.sha256(ca.encode()).hexdigest()[:16] if ca else ""
    return {"scope": tenant.scope, "quota": tenant.quota, "ca_cert": fingerprint}


def bind_scope(tenant):
    """The tenant's scope group gets the editor role, as the reference gives tenant users."""
    binding, created = TenantBinding.objects.get_or_create(
        tenant=tenant, group=tenant.scope, defaults={"role": Role.EDITOR}
    )
    if created:
        _record_binding("bind", binding, after={"role": binding.role})


@transaction.atomic
def request_tenant_deletion(tenant):
    """Mark the tenant for deletion; the worker empties the bucket, removes the namespace, and
    then deletes the row. Asking twice is harmless."""
    if tenant.deletion_requested_at is None:
        now = timezone.now()
        Tenant.objects.filter(pk=tenant.pk).update(
            deletion_requested_at=now, generation=F("generation") + 1, updated_at=now
        )
        audit.record("delete", "tenant", tenant.name, tenant=tenant.name, before=audited(tenant))
    schedule_reconcile(tenant.pk)


# What may change once a tenant exists; its name is its namespace and bucket.
CHANGEABLE_FIELDS = ("scope", "ca_cert", "quota")


@transaction.atomic
def update_tenant(tenant, changes, *, bindings_changed=False):
    """Set the fields in `changes` (some of CHANGEABLE_FIELDS): `quota` replaces the whole quota
    object, `ca_cert` "" removes the CA. A change is a new generation for the worker, which
    re-applies the ResourceQuota and the CA secret and prunes what is no longer rendered.
    `bindings_changed` says the caller (the admin site's inline) already changed the bindings,
    which need the same new generation. Returns the tenant as stored."""
    unknown = set(changes) - set(CHANGEABLE_FIELDS)
    if unknown:
        raise ValueError(f"Tenant fields that can't change: {', '.join(sorted(unknown))}")
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if tenant.deletion_requested_at:
        raise _deleting(tenant, "it")
    changed = [field for field, value in changes.items() if getattr(tenant, field) != value]
    if "ca_cert" in changed and not changes["ca_cert"]:
        refuse_ca_removal_in_use(tenant)
    if not changed and not bindings_changed:
        return tenant
    before = audited(tenant)
    for field in changed:
        setattr(tenant, field, changes[field])
    if changed:
        audit.record(
            "change",
            "tenant",
            tenant.name,
            tenant=tenant.name,
            before=before,
            after=audited(tenant),
        )
    if "scope" in changed:
        # The new scope group gets the role a new tenant gives it; the old group keeps its
        # binding until an admin removes it (its members may still need their access).
        bind_scope(tenant)
    tenant.generation += 1  # the row is locked: no other writer can bump it meanwhile
    tenant.save(update_fields=[*changed, "generation", "updated_at"])
    schedule_reconcile(tenant.pk)
    return tenant


def refuse_ca_removal_in_use(tenant):
    """The shipped serving templates publish an ingress that checks client certificates against
    the tenant's CA secret, and ingress-nginx refuses every call to one whose secret is gone: the
    CA can be replaced, but not removed while such endpoints exist."""
    names = answers(ca_removal_requested, tenant=tenant)
    if names:
        raise Conflict(
            TenantErrorCode.CA_IN_USE,
            f"Endpoints of tenant {tenant.name!r} check client certificates against its CA at "
            f"the cluster ingress ({', '.join(names)}); delete them first, or give a new CA "
            "instead of removing it.",
        )


def request_resync(tenants):
    for tenant in tenants:
        reconcile_tenant.delay(pk=tenant.pk)


def _deleting(tenant, what="its bindings"):
    return Conflict(
        TenantErrorCode.TENANT_DELETING,
        f"Tenant {tenant.name!r} is being deleted; {what} can't change.",
    )


def _bump_generation(tenant):
    """Bindings are part of the tenant's desired state: the worker renders one RoleBinding per
    binding and prunes the rest, so each change is a new generation to reconcile."""
    Tenant.objects.filter(pk=tenant.pk).update(
        generation=F("generation") + 1, updated_at=timezone.now()
    )
    schedule_reconcile(tenant.pk)


@transaction.atomic
def bind_group(tenant, *, group, role):
    """Give `group` the `role` in `tenant` (replacing its previous role). Returns
    (binding, "created" | "changed" | "unchanged")."""
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if tenant.deletion_requested_at:
        raise _deleting(tenant)
    binding, created = TenantBinding.objects.get_or_create(
        tenant=tenant, group=group, defaults={"role": role}
    )
    if created:
        outcome = "created"
        _record_binding("bind", binding, after={"role": role})
    elif binding.role != role:
        _record_binding("change", binding, before={"role": binding.role}, after={"role": role})
        binding.role = role
        binding.save(update_fields=["role"])
        outcome = "changed"
    else:
        return binding, "unchanged"
    _bump_generation(tenant)
    return binding, outcome


@transaction.atomic
def unbind_group(tenant, *, group):
    """Take `group`'s role in `tenant` away. Returns False if it had none."""
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if tenant.deletion_requested_at:
        raise _deleting(tenant)
    binding = TenantBinding.objects.filter(tenant=tenant, group=group).first()
    if binding is None:
        return False
    _record_binding("unbind", binding, before={"role": binding.role})
    binding.delete()
    _bump_generation(tenant)
    return True


def _record_binding(action, binding, before=None, after=None):
    tenant = binding.tenant.name
    audit.record(action, "binding", binding.group, tenant=tenant, before=before, after=after)
