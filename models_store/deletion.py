"""Deleting a model version: refused while an endpoint serves it; otherwise the version is marked
Deleting (hidden from lists) and a worker removes its objects, then its row."""

from django.db import transaction

from core import audit
from core.errors import Conflict, NotFound
from core.signals import answers
from models_store.errors import ModelStoreErrorCode
from models_store.models import ModelVersion, VersionState
from models_store.signals import version_deletion_requested
from models_store.tasks import delete_model_version
from workers.reconcile import enqueue_after_commit


@transaction.atomic
def request_version_deletion(*, tenant, name, version):
    """Mark the version Deleting; a worker removes its objects and then the row. Returns the
    version's path, as the reference answers."""
    model_version = (
        ModelVersion.objects.select_for_update()
        .filter(tenant=tenant, name=name, version=version)
        .first()
    )
    if model_version is None or model_version.state == VersionState.DELETING:
        raise NotFound(
            ModelStoreErrorCode.MODEL_VERSION_NOT_FOUND,
            f"Tenant {tenant.name!r} has no version {version} of a model called {name!r}.",
        )
    serving = answers(version_deletion_requested, tenant=tenant, name=name, version=version)
    if serving:
        raise Conflict(
            ModelStoreErrorCode.MODEL_VERSION_IN_USE,
            f"Version {version} of {name} is served by endpoint(s) {', '.join(serving)}; change "
            "their modelVersionPolicy or delete them first.",
            fields={"endpoints": serving},
        )
    model_version.state = VersionState.DELETING
    model_version.save(update_fields=["state", "updated_at"])
    audit.record("delete", "model_version", f"{name}/{version}", tenant=tenant.name)
    pk = model_version.pk
    enqueue_after_commit(delete_model_version, pk=pk)
    return model_version.prefix
