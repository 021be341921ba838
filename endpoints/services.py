"""Writes to endpoints. Each records desired state in one transaction and, once it commits, asks
a worker to make the cluster match."""

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core import audit
from core.errors import Conflict
from endpoints.errors import EndpointErrorCode
from endpoints.models import Endpoint
from endpoints.tasks import reconcile_endpoint, scale_endpoint
from models_store.selectors import has_ready_version
from tenants.errors import TenantErrorCode
from tenants.models import Tenant
from workers.reconcile import enqueue_after_commit

logger = logging.getLogger(__name__)


def schedule_reconcile(endpoint_pk):
    enqueue_after_commit(reconcile_endpoint, pk=endpoint_pk)


def model_warning(tenant, model_name):
    """The reference's warning when the endpoint points at a model the tenant has not uploaded.
    The model index answers (it follows storage, see models_store/tasks.py)."""
    if has_ready_version(tenant, model_name):
        return ""
    return f"{model_name} model is not available on the platform"


# The reference's sentence first: its clients and tests look for it.
QUOTA_REACHED = "Endpoints have reached the quantity limit"


def _no_room(tenant_name, count, limit):
    """Why maxEndpoints refuses another endpoint. A platform admin may have lowered the limit
    below the count (the endpoints stay), so say how many must go before one more fits."""
    if limit == 0:
        return (
            f"{QUOTA_REACHED}: tenant {tenant_name!r} may have no endpoints (maxEndpoints is 0); "
            "ask a platform admin for more."
        )
    excess = count - limit + 1
    return (
        f"{QUOTA_REACHED}: tenant {tenant_name!r} has {count} endpoint"
        f"{'s' if count != 1 else ''}, counting those "
        f"being deleted, and may have at most {limit} (maxEndpoints); delete "
        f"{'one' if excess == 1 else excess} to make room for another, or ask a platform admin "
        "for more."
    )


def create_endpoint(
    *,
    tenant,
    name,
    model_name,
    version_policy,
    serving,
    subject_name,
    resources,
    replicas,
    created_by,
):
    """Create the endpoint unless the tenant's maxEndpoints is reached. The tenant row is locked
    for the count and the insert, so concurrent creates cannot overshoot the quota."""
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if locked.deletion_requested_at:
            raise Conflict(
                TenantErrorCode.TENANT_DELETING, f"Tenant {tenant.name!r} is being deleted."
            )
        existing = Endpoint.objects.filter(tenant=locked, name=name).first()
        if existing is not None:
            if existing.deletion_requested_at:
                raise Conflict(
                    EndpointErrorCode.ENDPOINT_DELETING,
                    f"Endpoint {name!r} is still being deleted; try again when it is gone.",
                )
            raise Conflict(
                EndpointErrorCode.ENDPOINT_EXISTS, f"An endpoint called {name!r} already exists."
            )
        limit = locked.quota.get("maxEndpoints")
        if limit is not None:
            count = Endpoint.objects.filter(tenant=locked).count()
            if count >= limit:
                raise Conflict(
                    EndpointErrorCode.ENDPOINT_QUOTA_EXCEEDED, _no_room(tenant.name, count, limit)
                )
        endpoint = Endpoint.objects.create(
            tenant=locked,
            name=name,
            model_name=model_name,
            version_policy=version_policy,
            serving=serving,
            subject_name=subject_name,
            resources=resources,
            replicas=replicas,
            created_by=created_by,
        )
        _record("create", endpoint, after=audited(endpoint))
        schedule_reconcile(endpoint.pk)
    return endpoint


# API field name -> model field name, for the fields PATCH may change.
PATCHABLE = {
    "modelName": "model_name",
    "modelVersionPolicy": "version_policy",
    "resources": "resources",
    "subjectName": "subject_name",
}


def _refuse_if_deleting(endpoint):
    if endpoint.deletion_requested_at:
        raise Conflict(
            EndpointErrorCode.ENDPOINT_DELETING,
            f"Endpoint {endpoint.name!r} is being deleted; it can't change.",
        )


@transaction.atomic
def update_endpoint(endpoint, values):
    """Apply the given API fields; a change bumps the generation and reconciles the endpoint.
    Returns the values as stored."""
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    _refuse_if_deleting(endpoint)
    changes = {PATCHABLE[key]: value for key, value in values.items()}
    if any(getattr(endpoint, field) != value for field, value in changes.items()):
        before = audited(endpoint)
        Endpoint.objects.filter(pk=endpoint.pk).update(
            **changes, generation=F("generation") + 1, updated_at=timezone.now()
        )
        _record("change", endpoint, before=before, after={**before, **changes})
        schedule_reconcile(endpoint.pk)
    return values


@transaction.atomic
def scale(endpoint, replicas):
    """Change the replica count only: the worker patches replicas and touches nothing else."""
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    _refuse_if_deleting(endpoint)
    if endpoint.replicas != replicas:
        Endpoint.objects.filter(pk=endpoint.pk).update(replicas=replicas, updated_at=timezone.now())
        _record(
            "scale", endpoint, before={"replicas": endpoint.replicas}, after={"replicas": replicas}
        )
        enqueue_after_commit(scale_endpoint, pk=endpoint.pk)


@transaction.atomic
def request_endpoint_deletion(endpoint):
    """Mark the endpoint for deletion; the worker removes its objects, then the row. Asking twice
    is harmless."""
    if endpoint.deletion_requested_at is None:
        now = timezone.now()
        Endpoint.objects.filter(pk=endpoint.pk).update(
            deletion_requested_at=now, generation=F("generation") + 1, updated_at=now
        )
        _record("delete", endpoint, before=audited(endpoint))
    schedule_reconcile(endpoint.pk)


def audited(endpoint):
    """The endpoint's desired state as the audit trail shows it."""
    return {
        "model_name": endpoint.model_name,
        "version_policy": endpoint.version_policy,
        "serving": endpoint.serving.name,
        "subject_name": endpoint.subject_name,
        "resources": endpoint.resources,
        "replicas": endpoint.replicas,
    }


def _record(action, endpoint, before=None, after=None):
    tenant = endpoint.tenant.name
    audit.record(action, "endpoint", endpoint.name, tenant=tenant, before=before, after=after)


def request_resync(endpoints):
    for endpoint in endpoints:
        reconcile_endpoint.delay(pk=endpoint.pk)


def reconcile_lagging(tenant):
    """Reconcile the tenant's endpoints whose spec is not applied yet: they may have waited for
    the tenant (its namespace, or a CA just given)."""
    lagging = Endpoint.objects.filter(tenant=tenant, observed_generation__lt=F("generation"))
    for pk in lagging.values_list("pk", flat=True):
        reconcile_endpoint.delay(pk=pk)


def model_versions_changed(tenant_id, model_name):
    """A version of the model became ready or went away: the endpoints serving the model may
    now select other versions (a new latest, say), so each is reconciled after the commit."""
    for pk in Endpoint.objects.filter(
        tenant_id=tenant_id, model_name=model_name, deletion_requested_at__isnull=True
    ).values_list("pk", flat=True):
        schedule_reconcile(pk)
