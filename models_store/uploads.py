"""Multipart uploads of one file: start, parts (streamed through the API or sent to presigned
URLs), complete, abort, and the reaper of abandoned ones.

Storage is the source of truth for bytes: when a storage call and an index write can't be made
atomic together, the storage call goes first, so the index may briefly lack an object but never
lists one that does not exist; the index sync (index.py) closes the gap.
"""

import logging

from django.db import transaction
from django.db.models import Q

from core import audit
from core.errors import Conflict, Invalid, NotFound, TooLarge
from core.phase import Phase
from models_store import validation
from models_store.errors import ModelStoreErrorCode, storage_errors
from models_store.models import ModelFile, ModelVersion, MultipartUpload, VersionState
from models_store.quota import check_quota, lock_tenant
from models_store.versions import (
    claim_version,
    forget_if_empty,
    mark_ready_when_idle,
    require_ready,
)
from tenants.models import Tenant
from workers.errors import PermanentError, TransientError
from workers.storage import get_object_store

logger = logging.getLogger(__name__)


def start_upload(*, tenant, user, name, version, path, overwrite):
    """Start a multipart upload of one file. A file that is already in the version is a 409
    unless `overwrite`."""
    require_ready(tenant)
    store = get_object_store()
    key = f"{name}/{version}/{path}"
    with storage_errors():
        upload_id = store.create_multipart_upload(tenant.bucket, key)
    try:
        with transaction.atomic():
            model_version = claim_version(tenant, name, version, user)
            if not overwrite and model_version.files.filter(path=path).exists():
                raise Conflict(
                    ModelStoreErrorCode.FILE_EXISTS,
                    f"{key} already exists; pass overwrite=true to replace it.",
                )
            refuse_folder_clash(model_version, path)
            return MultipartUpload.objects.create(
                model_version=model_version, path=path, upload_id=upload_id, created_by=user
            )
    except BaseException:
        _abort_in_storage(store, tenant.bucket, key, upload_id)
        raise


def refuse_folder_clash(model_version, path):
    """A 409 if `path` would be a file where the version has a folder, or the other way round
    (its files and the uploads in progress)."""
    folders = validation.folders_of(path)
    for taken in (model_version.files, model_version.uploads):
        other = (
            taken.filter(Q(path__startswith=path + "/") | Q(path__in=folders))
            .values_list("path", flat=True)
            .first()
        )
        if other is not None:
            raise Conflict(
                ModelStoreErrorCode.PATH_CLASH,
                f"{path!r} can't be uploaded beside {other!r} in version {model_version.version} "
                f"of {model_version.name!r}: a name is either a file or a folder.",
                fields={"fileName": ["A file or folder of this version has this name."]},
            )


def make_folder(*, tenant, name, version, folder):
    """An empty folder in the version (the reference's upload tool makes one for each empty
    folder of a model); `folder` None is the version's own. A file of that name, or of a folder
    it would be in, is a 409. Returns the folder's path."""
    require_ready(tenant)
    prefix = f"{name}/{version}/" + (f"{folder}/" if folder else "")
    if folder:
        clashing = (
            ModelFile.objects.filter(
                model_version__tenant=tenant,
                model_version__name=name,
                model_version__version=version,
                path__in=[folder, *validation.folders_of(folder)],
            )
            .values_list("path", flat=True)
            .first()
        )
        if clashing is not None:
            raise Conflict(
                ModelStoreErrorCode.PATH_CLASH,
                f"{folder!r} can't be a folder in version {version} of {name!r}: {clashing!r} "
                "is a file there.",
                fields={"key": ["A file of the version has this name."]},
            )
    with storage_errors():
        get_object_store().make_folder(tenant.bucket, prefix)
    return prefix


def _abort_in_storage(store, bucket, key, upload_id):
    try:
        store.abort_multipart_upload(bucket, key, upload_id)
    except (TransientError, PermanentError) as exc:
        # The abandoned-upload reaper retries; the caller's error matters more than this one.
        logger.warning("could not abort upload %s of %s/%s: %s", upload_id, bucket, key, exc)


def find_upload(*, tenant, name, version, path, upload_id):
    upload = (
        MultipartUpload.objects.select_related("model_version")
        .filter(
            upload_id=upload_id,
            model_version__tenant=tenant,
            model_version__name=name,
            model_version__version=version,
            path=path,
        )
        .exclude(model_version__state=VersionState.DELETING)
        .first()
    )
    if upload is None:
        raise NotFound(
            ModelStoreErrorCode.UPLOAD_NOT_FOUND,
            f"There is no upload {upload_id!r} of {name}/{version}/{path} in progress; it may "
            "have completed, been aborted or expired.",
        )
    return upload


def _set_part_size(upload_pk, part_number, size):
    with transaction.atomic():
        upload = MultipartUpload.objects.select_for_update().filter(pk=upload_pk).first()
        if upload is None:
            return
        if size is None:
            upload.part_sizes.pop(str(part_number), None)
        else:
            upload.part_sizes[str(part_number)] = size
        upload.save(update_fields=["part_sizes"])


def _replaced_size(upload):
    size = (
        ModelFile.objects.filter(model_version_id=upload.model_version_id, path=upload.path)
        .values_list("size", flat=True)
        .first()
    )
    return size or 0


def _lock_upload(upload):
    locked = MultipartUpload.objects.select_for_update().filter(pk=upload.pk).first()
    if locked is None:
        raise NotFound(
            ModelStoreErrorCode.UPLOAD_NOT_FOUND, "The upload has just ended or been aborted."
        )
    return locked


def _count_change(locked_tenant, locked, counted_before):
    """Check the quota for the upload's new count (`locked.bytes_counted`, changed in memory from
    `counted_before`); a file being replaced frees its bytes when the upload completes."""
    counted = locked.bytes_counted
    if counted > counted_before:
        freeing = counted_before + min(_replaced_size(locked), counted)
        check_quota(locked_tenant, counted, freeing=freeing)


def receive_part(*, tenant, upload, part_number, stream, length):
    """Stream one part (exactly `length` bytes of `stream`) to storage; returns its ETag.
    The part's bytes are reserved against the quota before any is accepted; after a declaration
    (presign) a part must be its declared length."""
    if length > validation.MAX_PART_BYTES:
        raise TooLarge(
            ModelStoreErrorCode.PART_TOO_LARGE,
            f"A part may be at most {validation.MAX_PART_BYTES} bytes; this one is {length}.",
        )
    with transaction.atomic():
        locked_tenant = lock_tenant(tenant)
        locked = _lock_upload(upload)
        _check_declared_part(locked, part_number, length)
        counted_before = locked.bytes_counted
        previous = locked.part_sizes.get(str(part_number))
        locked.part_sizes[str(part_number)] = length
        _count_change(locked_tenant, locked, counted_before)
        locked.save(update_fields=["part_sizes"])
    try:
        gone = NotFound(
            ModelStoreErrorCode.UPLOAD_NOT_FOUND, "The upload no longer exists in storage."
        )
        with storage_errors(when_upload_missing=gone):
            return get_object_store().upload_part(
                tenant.bucket, upload.key, upload.upload_id, part_number, stream, length
            )
    except BaseException:
        _set_part_size(upload.pk, part_number, previous)
        raise


def _check_declared_part(upload, number, length=None):
    """After a declaration, part `number` must exist in the declared file and, when `length` is
    given, be exactly its declared length."""
    count = upload.part_count
    if count is None:
        return
    if number > count:
        raise Invalid(
            ModelStoreErrorCode.INVALID_PART_NUMBER,
            f"The upload was declared as {upload.declared_size} bytes in parts of "
            f"{upload.part_size}: {count} part(s), so there is no part {number}.",
            fields={"partNumbers": [f"Part numbers go from 1 to {count}."]},
        )
    if length is not None and length != upload.part_length(number):
        raise Invalid(
            ModelStoreErrorCode.PART_SIZE_MISMATCH,
            f"Part {number} of this upload must be {upload.part_length(number)} bytes (declared "
            f"as {upload.declared_size} bytes in parts of {upload.part_size}); it is {length}.",
        )


def declare_size(*, tenant, upload, size, part_size, part_numbers):
    """Before handing out presigned part URLs (whose bytes go straight to storage): record the
    file's size and part size, reserve the size against the quota until the upload ends, and
    return the declared length of each part in `part_numbers`. A declaration is made once per
    upload: asking again with other sizes is a 409 (the URLs already given bind the first)."""
    part_size = validation.part_size(part_size, size)
    with transaction.atomic():
        locked_tenant = lock_tenant(tenant)
        locked = _lock_upload(upload)
        declared = (locked.declared_size, locked.part_size)
        if locked.declared_size is None:
            counted_before = locked.bytes_counted
            locked.declared_size, locked.part_size = size, part_size
            _count_change(locked_tenant, locked, counted_before)
            locked.save(update_fields=["declared_size", "part_size"])
        elif declared != (size, part_size):
            raise Conflict(
                ModelStoreErrorCode.UPLOAD_SIZE_DECLARED,
                f"This upload was declared as {declared[0]} bytes in parts of {declared[1]}; "
                "its part URLs bind those lengths. Abort it and start a new upload to send a "
                "file of another size.",
            )
        for number in part_numbers:
            _check_declared_part(locked, number)
        return {number: locked.part_length(number) for number in part_numbers}


def complete_upload(*, tenant, upload, parts):
    """Assemble the parts into the file and record it in the index."""
    store = get_object_store()
    refused = Invalid(
        ModelStoreErrorCode.INVALID_PARTS,
        "Storage refused the parts list: a part is missing or its ETag is wrong.",
    )
    with storage_errors(when_upload_missing=refused):
        size, etag = store.complete_multipart_upload(
            tenant.bucket, upload.key, upload.upload_id, parts
        )
    over_quota = None
    with transaction.atomic():
        locked_tenant = lock_tenant(tenant)
        model_version = ModelVersion.objects.select_for_update().get(pk=upload.model_version_id)
        MultipartUpload.objects.filter(pk=upload.pk).delete()
        replaced = model_version.files.filter(path=upload.path).first()
        try:
            # Parts sent to presigned URLs were not counted as they arrived; count them now.
            check_quota(locked_tenant, size, freeing=replaced.size if replaced else 0)
        except TooLarge as exc:
            over_quota = exc
            if replaced:
                replaced.delete()  # its bytes were just replaced in storage
            forget_if_empty(model_version)
        else:
            file, _ = ModelFile.objects.update_or_create(
                model_version=model_version, path=upload.path, defaults={"size": size, "etag": etag}
            )
            mark_ready_when_idle(model_version)
            audit.record(
                "upload",
                "model_file",
                f"{model_version.name}/{model_version.version}/{upload.path}",
                tenant=tenant.name,
                before={"size": replaced.size} if replaced else None,
                after={"size": size, "etag": etag},
            )
    if over_quota is not None:
        with storage_errors():
            store.delete_objects(tenant.bucket, [upload.key])
        raise over_quota
    return file


def abort_upload(*, tenant, upload):
    with storage_errors():
        get_object_store().abort_multipart_upload(tenant.bucket, upload.key, upload.upload_id)
    with transaction.atomic():
        model_version = ModelVersion.objects.select_for_update().get(pk=upload.model_version_id)
        MultipartUpload.objects.filter(pk=upload.pk).delete()
        forget_if_empty(model_version)


def abort_uploads_started_before(older_than):
    """Abort uploads started before `older_than` (a datetime); returns how many."""
    store = get_object_store()
    aborted = 0
    stale = MultipartUpload.objects.filter(created_at__lt=older_than).select_related(
        "model_version__tenant"
    )
    for upload in stale:
        store.abort_multipart_upload(
            upload.model_version.tenant.bucket, upload.key, upload.upload_id
        )
        with transaction.atomic():
            model_version = (
                ModelVersion.objects.select_for_update().filter(pk=upload.model_version_id).first()
            )
            MultipartUpload.objects.filter(pk=upload.pk).delete()
            if model_version is not None:
                forget_if_empty(model_version)
        aborted += 1
    return (
        aborted
        + _release_unfinished_archives(older_than)
        + _abort_untracked_uploads(store, older_than)
    )


def _release_unfinished_archives(older_than):
    """Archives whose unpacking stopped without an end (the server died meanwhile) before
    `older_than`: their reserved bytes are given back. What they wrote is in storage, where the
    index sync finds it."""
    released = 0
    stale = ModelVersion.objects.filter(reserved_bytes__gt=0, updated_at__lt=older_than)
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            model_version = (
                ModelVersion.objects.select_for_update()
                .filter(pk=pk, reserved_bytes__gt=0, updated_at__lt=older_than)
                .first()
            )
            if model_version is None:
                continue
            model_version.reserved_bytes = 0
            model_version.save(update_fields=["reserved_bytes", "updated_at"])
            mark_ready_when_idle(model_version)
            forget_if_empty(model_version)
            released += 1
    return released


def _abort_untracked_uploads(store, older_than):
    """Uploads storage holds that no row tracks (the API stopped between starting one in storage
    and recording it): abort those older than `older_than`."""
    aborted = 0
    tracked = set(MultipartUpload.objects.values_list("upload_id", flat=True))
    for tenant in Tenant.objects.filter(phase=Phase.READY, deletion_requested_at__isnull=True):
        for key, upload_id, started in store.list_multipart_uploads(tenant.bucket):
            if upload_id not in tracked and started < older_than:
                store.abort_multipart_upload(tenant.bucket, key, upload_id)
                aborted += 1
    return aborted
