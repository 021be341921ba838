"""The tenant's storage quota (maxStorageBytes): what its models use, counting uploads in progress,
and the check every write makes with the tenant row locked."""

from django.db.models import Sum

from core.errors import TooLarge
from models_store.errors import ModelStoreErrorCode
from models_store.models import ModelFile, ModelVersion, MultipartUpload
from tenants.models import Tenant


def storage_used(tenant):
    """Bytes the tenant's models use, counting uploads still in progress (their declared size, or
    the parts received if more) and the bytes reserved by archives being unpacked."""
    stored = (
        ModelFile.objects.filter(model_version__tenant=tenant).aggregate(total=Sum("size"))["total"]
        or 0
    )
    reserved = (
        ModelVersion.objects.filter(tenant=tenant).aggregate(total=Sum("reserved_bytes"))["total"]
        or 0
    )
    in_flight = MultipartUpload.objects.filter(model_version__tenant=tenant).only(
        "part_sizes", "declared_size"
    )
    return stored + reserved + sum(upload.bytes_counted for upload in in_flight)


def check_quota(tenant, adding, freeing=0):
    """Refuse `adding` more bytes if they would take the tenant over `maxStorageBytes`. Call it
    with the tenant row locked, so two uploads can't both take the last free bytes."""
    limit = tenant.quota.get("maxStorageBytes")
    if limit is None:
        return
    used = storage_used(tenant) - freeing
    if used + adding > limit:
        raise TooLarge(
            ModelStoreErrorCode.STORAGE_QUOTA_EXCEEDED,
            f"This would take tenant {tenant.name!r} to {used + adding} bytes of models; its "
            f"storage quota is {limit} bytes. Delete versions you no longer need or ask a "
            "platform admin for more.",
        )


def lock_tenant(tenant):
    return Tenant.objects.select_for_update().get(pk=tenant.pk)
