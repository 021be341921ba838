"""A model version's life in the index: claimed by its first upload (Uploading), Ready once its
files are in and no upload is open, forgotten when nothing of it is left."""

from core.errors import Conflict
from core.phase import Phase
from models_store.errors import ModelStoreErrorCode
from models_store.models import ModelVersion, VersionState


def require_ready(tenant):
    if tenant.phase != Phase.READY or tenant.deletion_requested_at:
        raise Conflict(
            ModelStoreErrorCode.TENANT_NOT_READY,
            f"Tenant {tenant.name!r} is {tenant.phase.lower()}; its storage is not ready for "
            "models yet.",
        )


def claim_version(tenant, name, version, user):
    """The version row, locked, created in the Uploading state if new."""
    model_version, _ = ModelVersion.objects.select_for_update().get_or_create(
        tenant=tenant, name=name, version=version, defaults={"created_by": user}
    )
    if model_version.state == VersionState.DELETING:
        raise Conflict(
            ModelStoreErrorCode.VERSION_DELETING,
            f"Version {version} of {name!r} is being deleted; upload again when it is gone.",
        )
    return model_version


def mark_ready_when_idle(model_version):
    if (
        model_version.state == VersionState.UPLOADING
        and not model_version.uploads.exists()
        and model_version.files.exists()
    ):
        model_version.state = VersionState.READY
        model_version.save(update_fields=["state", "updated_at"])


def forget_if_empty(model_version):
    """A version row with no files and no uploads describes nothing; drop it."""
    if not model_version.files.exists() and not model_version.uploads.exists():
        model_version.delete()
