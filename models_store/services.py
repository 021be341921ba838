"""Writes to the model store. Index rows change inside `transaction.atomic`; storage calls that
must answer the caller (upload bytes, starting and completing uploads) run in the request, the
rest (deleting versions) in workers after commit.

Storage is the source of truth for bytes: when a storage call and an index write can't be made
atomic together, the storage call goes first, so the index may briefly lack an object but never
lists one that does not exist; `sync_index` closes the gap.
"""

import logging
from collections import defaultdict
from contextlib import contextmanager

from django.db import transaction
from django.db.models import Sum

from models_store import archives, validation
from models_store.models import ModelFile, ModelVersion, MultipartUpload, VersionState
from models_store.storage import get_object_store
from portal.api.exceptions import ApiError, Conflict, NotFound
from tenants.models import Phase, Tenant
from workers.errors import PermanentError, TransientError

logger = logging.getLogger(__name__)


@contextmanager
def storage_errors(when_upload_missing=None):
    """Storage failures as API errors: unreachable is a 503; an upload or part that storage does
    not know is `when_upload_missing` (an ApiError) if the caller gives one; anything else a 502."""
    try:
        yield
    except TransientError as exc:
        raise ApiError(
            "storage_unavailable",
            "Model storage is not reachable right now; try again in a minute.",
            status_code=503,
        ) from exc
    except PermanentError as exc:
        missing = any(code in str(exc) for code in ("NoSuchUpload", "InvalidPart"))
        if when_upload_missing is not None and missing:
            raise when_upload_missing from exc
        raise ApiError(
            "storage_error", f"Model storage refused the request: {exc}", status_code=502
        ) from exc


def require_ready(tenant):
    if tenant.phase != Phase.READY or tenant.deletion_requested_at:
        raise Conflict(
            "tenant_not_ready",
            f"Tenant {tenant.name!r} is {tenant.phase.lower()}; its storage is not ready for "
            "models yet.",
        )


# --- quota ---------------------------------------------------------------------------------


def storage_used(tenant):
    """Bytes the tenant's models use, counting parts of uploads still in progress."""
    stored = (
        ModelFile.objects.filter(model_version__tenant=tenant).aggregate(total=Sum("size"))["total"]
        or 0
    )
    in_flight = MultipartUpload.objects.filter(model_version__tenant=tenant).values_list(
        "part_sizes", flat=True
    )
    return stored + sum(sum(sizes.values()) for sizes in in_flight)


def check_quota(tenant, adding, freeing=0):
    """Refuse `adding` more bytes if they would take the tenant over `maxStorageBytes`. Call it
    with the tenant row locked, so two uploads can't both take the last free bytes."""
    limit = tenant.quota.get("maxStorageBytes")
    if limit is None:
        return
    used = storage_used(tenant) - freeing
    if used + adding > limit:
        raise ApiError(
            "storage_quota_exceeded",
            f"This would take tenant {tenant.name!r} to {used + adding} bytes of models; its "
            f"storage quota is {limit} bytes. Delete versions you no longer need or ask a "
            "platform admin for more.",
            status_code=413,
        )


def _lock_tenant(tenant):
    return Tenant.objects.select_for_update().get(pk=tenant.pk)


# --- versions ------------------------------------------------------------------------------


def _claim_version(tenant, name, version, user):
    """The version row, locked, created in the Uploading state if new."""
    model_version, _ = ModelVersion.objects.select_for_update().get_or_create(
        tenant=tenant, name=name, version=version, defaults={"created_by": user}
    )
    if model_version.state == VersionState.DELETING:
        raise Conflict(
            "version_deleting",
            f"Version {version} of {name!r} is being deleted; upload again when it is gone.",
        )
    return model_version


def _mark_ready_when_idle(model_version):
    if (
        model_version.state == VersionState.UPLOADING
        and not model_version.uploads.exists()
        and model_version.files.exists()
    ):
        model_version.state = VersionState.READY
        model_version.save(update_fields=["state", "updated_at"])


def _forget_if_empty(model_version):
    """A version row with no files and no uploads describes nothing; drop it."""
    if not model_version.files.exists() and not model_version.uploads.exists():
        model_version.delete()


@transaction.atomic
def request_version_deletion(*, tenant, name, version):
    """Mark the version Deleting; a worker removes its objects and then the row. Returns the
    version's path, as the reference answers."""
    from workers.model_tasks import delete_model_version

    model_version = (
        ModelVersion.objects.select_for_update()
        .filter(tenant=tenant, name=name, version=version)
        .first()
    )
    if model_version is None or model_version.state == VersionState.DELETING:
        raise NotFound(
            f"Tenant {tenant.name!r} has no version {version} of a model called {name!r}.",
            code="model_version_not_found",
        )
    from endpoints.services import endpoints_serving

    serving = endpoints_serving(tenant, name, version)
    if serving:
        raise Conflict(
            "model_version_in_use",
            f"Version {version} of {name} is served by endpoint(s) {', '.join(serving)}; change "
            "their modelVersionPolicy or delete them first.",
            fields={"endpoints": serving},
        )
    model_version.state = VersionState.DELETING
    model_version.save(update_fields=["state", "updated_at"])
    pk = model_version.pk
    transaction.on_commit(lambda: delete_model_version.delay(pk=pk))
    return model_version.prefix


# --- multipart uploads ---------------------------------------------------------------------


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
            model_version = _claim_version(tenant, name, version, user)
            if not overwrite and model_version.files.filter(path=path).exists():
                raise Conflict(
                    "file_exists",
                    f"{key} already exists; pass overwrite=true to replace it.",
                )
            return MultipartUpload.objects.create(
                model_version=model_version, path=path, upload_id=upload_id, created_by=user
            )
    except BaseException:
        _abort_in_storage(store, tenant.bucket, key, upload_id)
        raise


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
            f"There is no upload {upload_id!r} of {name}/{version}/{path} in progress; it may "
            "have completed, been aborted or expired.",
            code="upload_not_found",
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


def receive_part(*, tenant, upload, part_number, stream, length):
    """Stream one part (exactly `length` bytes of `stream`) to storage; returns its ETag.
    The part's bytes are reserved against the quota before any is accepted."""
    if length > validation.MAX_PART_BYTES:
        raise ApiError(
            "part_too_large",
            f"A part may be at most {validation.MAX_PART_BYTES} bytes; this one is {length}.",
            status_code=413,
        )
    with transaction.atomic():
        locked_tenant = _lock_tenant(tenant)
        locked = MultipartUpload.objects.select_for_update().filter(pk=upload.pk).first()
        if locked is None:
            raise NotFound("The upload has just ended or been aborted.", code="upload_not_found")
        previous = locked.part_sizes.get(str(part_number))
        upload_total = locked.bytes_received - (previous or 0) + length
        # A file being replaced frees its bytes when the upload completes.
        replaced = _replaced_size(locked)
        check_quota(locked_tenant, length, freeing=(previous or 0) + min(replaced, upload_total))
        locked.part_sizes[str(part_number)] = length
        locked.save(update_fields=["part_sizes"])
    try:
        gone = NotFound("The upload no longer exists in storage.", code="upload_not_found")
        with storage_errors(when_upload_missing=gone):
            return get_object_store().upload_part(
                tenant.bucket, upload.key, upload.upload_id, part_number, stream, length
            )
    except BaseException:
        _set_part_size(upload.pk, part_number, previous)
        raise


def check_declared_size(*, tenant, upload, size):
    """Before handing out presigned part URLs (whose bytes go straight to storage): would a file
    of `size` bytes fit in the quota?"""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ApiError(
            "invalid_file_size",
            f"fileSize must be the file size in bytes, 0 or more; {size!r} is not.",
            fields={"fileSize": ["Must be a whole number of bytes."]},
        )
    with transaction.atomic():
        locked_tenant = _lock_tenant(tenant)
        check_quota(locked_tenant, size, freeing=_replaced_size(upload) + upload.bytes_received)


def complete_upload(*, tenant, upload, parts):
    """Assemble the parts into the file and record it in the index."""
    store = get_object_store()
    refused = ApiError(
        "invalid_parts", "Storage refused the parts list: a part is missing or its ETag is wrong."
    )
    with storage_errors(when_upload_missing=refused):
        size, etag = store.complete_multipart_upload(
            tenant.bucket, upload.key, upload.upload_id, parts
        )
    over_quota = None
    with transaction.atomic():
        locked_tenant = _lock_tenant(tenant)
        model_version = ModelVersion.objects.select_for_update().get(pk=upload.model_version_id)
        MultipartUpload.objects.filter(pk=upload.pk).delete()
        replaced = model_version.files.filter(path=upload.path).first()
        try:
            # Parts sent to presigned URLs were not counted as they arrived; count them now.
            check_quota(locked_tenant, size, freeing=replaced.size if replaced else 0)
        except ApiError as exc:
            over_quota = exc
            if replaced:
                replaced.delete()  # its bytes were just replaced in storage
            _forget_if_empty(model_version)
        else:
            file, _ = ModelFile.objects.update_or_create(
                model_version=model_version, path=upload.path, defaults={"size": size, "etag": etag}
            )
            _mark_ready_when_idle(model_version)
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
        _forget_if_empty(model_version)


def abort_abandoned_uploads(older_than):
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
                _forget_if_empty(model_version)
        aborted += 1
    return aborted + _abort_untracked_uploads(store, older_than)


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


# --- archives ------------------------------------------------------------------------------


def upload_archive(*, tenant, user, name, version, stream, length, overwrite):
    """Unpack a tar / tar.gz / zip into `<name>/<version>/`. Every member is checked before
    anything is written; a version that already has files is a 409 unless `overwrite`, which
    replaces the whole version. Returns the version with its files."""
    require_ready(tenant)
    store = get_object_store()
    prefix = f"{name}/{version}/"
    with archives.spooled_body(stream, length) as spool:
        summary = archives.inspect(spool)
        with transaction.atomic():
            locked_tenant = _lock_tenant(tenant)
            model_version = _claim_version(tenant, name, version, user)
            existing = {f.path: f.size for f in model_version.files.all()}
            if existing and not overwrite:
                raise Conflict(
                    "version_exists",
                    f"Version {version} of {name!r} already exists; pass overwrite=true to "
                    "replace it.",
                )
            if model_version.uploads.exists():
                raise Conflict(
                    "upload_in_progress",
                    f"Files are being uploaded to version {version} of {name!r}; wait for them "
                    "to finish or abort them.",
                )
            check_quota(locked_tenant, summary.total_size, freeing=sum(existing.values()))
            model_version.state = VersionState.UPLOADING
            model_version.save(update_fields=["state", "updated_at"])

        written = {}
        try:
            with storage_errors():
                for path, size, member in archives.members(spool, summary):
                    written[path] = (
                        size,
                        store.put_stream(tenant.bucket, prefix + path, member, size),
                    )
        except BaseException:
            _discard_partial_archive(store, tenant, model_version, prefix, written, existing)
            raise

    with transaction.atomic():
        model_version = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
        model_version.files.all().delete()
        ModelFile.objects.bulk_create(
            ModelFile(model_version=model_version, path=path, size=size, etag=etag)
            for path, (size, etag) in written.items()
        )
        model_version.state = VersionState.READY
        model_version.save(update_fields=["state", "updated_at"])
    stale = [prefix + path for path in existing if path not in written]
    if stale:
        with storage_errors():
            store.delete_objects(tenant.bucket, stale)
    return model_version


def _discard_partial_archive(store, tenant, model_version, prefix, written, existing):
    """Storage failed half way: remove what this upload wrote that was not there before."""
    try:
        store.delete_objects(tenant.bucket, [prefix + p for p in written if p not in existing])
    except (TransientError, PermanentError) as exc:
        logger.warning("could not remove a partial archive from %s: %s", tenant.bucket, exc)
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().filter(pk=model_version.pk).first()
        if locked is None:
            return
        if existing:
            locked.state = VersionState.READY
            locked.save(update_fields=["state", "updated_at"])
        else:
            _forget_if_empty(locked)


# --- reconciling the index with storage ----------------------------------------------------


def parse_key(key):
    """(name, version, path) for a key in the `<model>/<version>/<file>` layout, else None."""
    name, _, rest = key.partition("/")
    version, _, path = rest.partition("/")
    try:
        return (
            validation.model_name(name),
            validation.model_version(version),
            (validation.file_path(path)),
        )
    except ApiError:
        return None


def sync_index(tenant, objects, listed_after):
    """Make the index match `objects` ((key, size, ETag) listed from storage, all of them).

    Files and versions touched after `listed_after` (when the listing began) are left alone, so
    an upload that completed while storage was being listed is not forgotten. Versions being
    deleted are left to their worker. Returns (files added or changed, files removed)."""
    found = defaultdict(dict)
    for key, size, etag in objects:
        parsed = parse_key(key)
        if parsed is None:
            logger.info("ignoring %s/%s: not <model>/<version>/<file>", tenant.bucket, key)
            continue
        name, version, path = parsed
        found[(name, version)][path] = (size, etag)

    added = removed = 0
    with transaction.atomic():
        versions = {
            (v.name, v.version): v
            for v in ModelVersion.objects.select_for_update()
            .filter(tenant=tenant)
            .prefetch_related("files", "uploads")
        }
        for identity, files in found.items():
            model_version = versions.get(identity)
            if model_version is None:
                model_version = ModelVersion.objects.create(
                    tenant=tenant, name=identity[0], version=identity[1], state=VersionState.READY
                )
                known = {}
            elif model_version.state == VersionState.DELETING:
                continue
            else:
                known = {f.path: f for f in model_version.files.all()}
            new, changed = [], []
            for path, (size, etag) in files.items():
                file = known.get(path)
                if file is None:
                    new.append(
                        ModelFile(model_version=model_version, path=path, size=size, etag=etag)
                    )
                elif file.size != size or (etag and file.etag != etag):
                    file.size, file.etag = size, etag or file.etag
                    changed.append(file)
            ModelFile.objects.bulk_create(new)
            ModelFile.objects.bulk_update(changed, ["size", "etag"])
            added += len(new) + len(changed)

        for identity, model_version in versions.items():
            if model_version.state == VersionState.DELETING:
                continue
            present = found.get(identity, {})
            gone = [
                f.pk
                for f in model_version.files.all()
                if f.path not in present and f.updated_at < listed_after
            ]
            if gone:
                ModelFile.objects.filter(pk__in=gone).delete()
                removed += len(gone)
            if (
                not present
                and not model_version.uploads.all()
                and model_version.updated_at < listed_after
                and not model_version.files.exclude(pk__in=gone).exists()
            ):
                model_version.delete()
    return added, removed
