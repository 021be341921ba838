"""The model store's worker side: delete versions, keep the index in step with storage, abort
abandoned uploads."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from core.phase import Phase
from models_store.index import sync_index
from models_store.models import ModelVersion, VersionState
from models_store.uploads import abort_uploads_started_before
from tenants.models import Tenant
from workers.errors import PermanentError, TransientError
from workers.reconcile import MAX_RETRIES, backoff
from workers.storage import get_object_store

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def delete_model_version(self, *, pk):
    """Abort the version's uploads, remove its objects, then its row. Safe to run twice."""
    model_version = ModelVersion.objects.select_related("tenant").filter(pk=pk).first()
    if model_version is None:
        return "gone"
    if model_version.state != VersionState.DELETING:
        return "not deleting"
    store = get_object_store()
    bucket = model_version.tenant.bucket
    try:
        for upload in model_version.uploads.all():
            store.abort_multipart_upload(bucket, upload.key, upload.upload_id)
        store.delete_prefix(bucket, model_version.prefix)
    except TransientError as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
    except PermanentError as exc:
        # The row stays Deleting (hidden from lists); the index sync retries on its next run.
        logger.error("could not delete %s from %s: %s", model_version.prefix, bucket, exc)
        return "failed"
    model_version.delete()
    return "deleted"


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=3)
def sync_model_index(self, *, tenant_pk):
    """Make one tenant's model index match its bucket."""
    tenant = Tenant.objects.filter(pk=tenant_pk).first()
    if tenant is None or tenant.phase != Phase.READY or tenant.deletion_requested_at:
        return None
    listed_after = timezone.now()
    try:
        objects = list(get_object_store().list_objects(tenant.bucket))
    except TransientError as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
    except PermanentError as exc:
        logger.warning("model index sync of %s skipped: %s", tenant.name, exc)
        return None
    added, removed = sync_index(tenant, objects, listed_after)
    # Versions whose deletion stopped half way (the worker died) are finished here.
    for pk in ModelVersion.objects.filter(
        tenant=tenant, state=VersionState.DELETING, updated_at__lt=listed_after
    ).values_list("pk", flat=True):
        delete_model_version.delay(pk=pk)
    return {"added": added, "removed": removed}


@shared_task(acks_late=True)
def resync_models():
    """Beat: sync every ready tenant's index and abort uploads older than the allowed age."""
    tenants = Tenant.objects.filter(phase=Phase.READY, deletion_requested_at__isnull=True)
    for pk in tenants.values_list("pk", flat=True):
        sync_model_index.delay(tenant_pk=pk)
    return abort_abandoned_uploads()


@shared_task(acks_late=True)
def abort_abandoned_uploads():
    cutoff = timezone.now() - timedelta(hours=settings.MODELPORT_UPLOAD_MAX_AGE_HOURS)
    try:
        return {"aborted": abort_uploads_started_before(cutoff)}
    except (TransientError, PermanentError) as exc:
        logger.warning("aborting abandoned uploads stopped: %s", exc)
        return {"skipped": str(exc)}
