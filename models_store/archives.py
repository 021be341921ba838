"""Archives (tar, tar.gz/bz2/xz, zip) uploaded as one request.

The body is first spooled to a temporary file through a bounded buffer, then read twice: once to
check every member (regular files and folders only, safe relative paths, bounded count and
size) before anything is written, and once to stream each member into storage. Tar archives are
read in stream mode (`r|*`), so even compressed ones never need the whole archive in memory.
"""

import logging
import stat
import tarfile
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from core.errors import Conflict, Invalid
from models_store import validation
from models_store.errors import ModelStoreErrorCode, storage_errors
from models_store.models import ModelFile, ModelVersion, VersionState
from models_store.quota import check_quota, lock_tenant
from models_store.versions import claim_version, forget_if_empty, require_ready
from workers.errors import PermanentError, TransientError
from workers.storage import get_object_store
from workers.storage.streams import CHUNK_SIZE

logger = logging.getLogger(__name__)


def bad_archive(message, code=ModelStoreErrorCode.INVALID_ARCHIVE):
    return Invalid(code, message)


@dataclass
class ArchiveSummary:
    kind: str  # "tar" or "zip"
    files: dict = field(default_factory=dict)  # path -> size

    @property
    def total_size(self):
        return sum(self.files.values())


@contextmanager
def spooled_body(stream, length):
    """The request body in a temporary file, refusing bodies over the archive size limit."""
    limit = settings.MODELPORT_ARCHIVE_MAX_BYTES
    if length is not None and length > limit:
        raise bad_archive(
            f"The archive is {length} bytes; the limit is {limit} bytes.", "archive_too_large"
        )
    with tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as spool:
        received = 0
        while data := stream.read(CHUNK_SIZE):
            received += len(data)
            if received > limit:
                raise bad_archive(
                    f"The archive is over the {limit}-byte limit.", "archive_too_large"
                )
            spool.write(data)
        if received == 0:
            raise bad_archive("The request body is empty; send a tar, tar.gz or zip archive.")
        spool.seek(0)
        yield spool


def _member_path(name):
    """A member name as a path inside the version, or Invalid. `./` prefixes are harmless."""
    clean = name
    while clean.startswith("./"):
        clean = clean[2:]
    try:
        return validation.file_path(clean.rstrip("/"), "member")
    except Invalid as exc:
        raise bad_archive(f"The archive member {name!r} is not allowed: {exc.message}") from None


def _check_folder(name):
    if name.rstrip("/") not in ("", "."):
        _member_path(name)


class _Limits:
    def __init__(self):
        self.max_files = settings.MODELPORT_ARCHIVE_MAX_FILES
        self.max_bytes = settings.MODELPORT_ARCHIVE_MAX_BYTES

    def add(self, summary, name, size):
        path = _member_path(name)
        if path in summary.files:
            raise bad_archive(f"The archive holds {path!r} twice.")
        if len(summary.files) + 1 > self.max_files:
            raise bad_archive(
                f"The archive holds more than {self.max_files} files.",
                ModelStoreErrorCode.ARCHIVE_TOO_MANY_FILES,
            )
        if summary.total_size + size > self.max_bytes:
            raise bad_archive(
                f"The archive's files add up to more than {self.max_bytes} bytes.",
                ModelStoreErrorCode.ARCHIVE_TOO_LARGE,
            )
        summary.files[path] = size


def inspect(spool):
    """Check every member without writing anything; returns what would be written."""
    limits = _Limits()
    if zipfile.is_zipfile(spool):
        spool.seek(0)
        summary = ArchiveSummary("zip")
        try:
            with zipfile.ZipFile(spool) as archive:
                for info in archive.infolist():
                    mode = info.external_attr >> 16
                    if info.is_dir():
                        _check_folder(info.filename)
                        continue
                    # Zip tools that record no file type leave these bits at 0.
                    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                        raise bad_archive(
                            f"The archive member {info.filename!r} is a link or special file; "
                            "only regular files and folders are allowed."
                        )
                    limits.add(summary, info.filename, info.file_size)
                broken = archive.testzip()  # reads every member: a corrupt one fails here
                if broken is not None:
                    raise bad_archive(f"The archive member {broken!r} is corrupt.")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
            raise bad_archive(f"The zip archive can't be read: {exc}.") from None
    else:
        spool.seek(0)
        summary = ArchiveSummary("tar")
        try:
            with tarfile.open(fileobj=spool, mode="r|*") as archive:
                for member in archive:
                    if member.isdir():
                        _check_folder(member.name)
                        continue
                    if not member.isreg():
                        kind = "a link" if member.issym() or member.islnk() else "a special file"
                        raise bad_archive(
                            f"The archive member {member.name!r} is {kind}; only regular files "
                            "and folders are allowed."
                        )
                    limits.add(summary, member.name, member.size)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise bad_archive(
                f"The body is not a readable tar, tar.gz or zip archive ({exc})."
            ) from None
    if not summary.files:
        raise bad_archive("The archive holds no files.")
    clash = validation.folder_clash(list(summary.files))
    if clash:
        raise bad_archive(
            f"The archive holds {clash[0]!r} as a file and {clash[1]!r} inside it as a folder; "
            "a name is either a file or a folder."
        )
    return summary


def members(spool, summary):
    """(path, size, file object) for each regular file, in archive order. Call after inspect()."""
    spool.seek(0)
    if summary.kind == "zip":
        with zipfile.ZipFile(spool) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    with archive.open(info) as member:
                        yield _member_path(info.filename), info.file_size, member
        return
    with tarfile.open(fileobj=spool, mode="r|*") as archive:
        for member in archive:
            if member.isreg():
                yield _member_path(member.name), member.size, archive.extractfile(member)


# --- the upload -----------------------------------------------------------------------------


def upload_archive(*, tenant, user, name, version, stream, length, overwrite):
    """Unpack a tar / tar.gz / zip into `<name>/<version>/`. Every member is checked before
    anything is written; a version that already has files is a 409 unless `overwrite`, which
    replaces the whole version. Returns the version with its files."""
    require_ready(tenant)
    store = get_object_store()
    prefix = f"{name}/{version}/"
    with spooled_body(stream, length) as spool:
        summary = inspect(spool)
        with transaction.atomic():
            locked_tenant = lock_tenant(tenant)
            model_version = claim_version(tenant, name, version, user)
            existing = {f.path: f.size for f in model_version.files.all()}
            if existing and not overwrite:
                raise Conflict(
                    ModelStoreErrorCode.VERSION_EXISTS,
                    f"Version {version} of {name!r} already exists; pass overwrite=true to "
                    "replace it.",
                )
            if model_version.uploads.exists() or model_version.reserved_bytes:
                raise Conflict(
                    ModelStoreErrorCode.UPLOAD_IN_PROGRESS,
                    f"Files are being uploaded to version {version} of {name!r}; wait for them "
                    "to finish or abort them.",
                )
            check_quota(locked_tenant, summary.total_size, freeing=sum(existing.values()))
            # Reserved until the files are recorded: concurrent uploads count these bytes.
            model_version.reserved_bytes = summary.total_size
            model_version.state = VersionState.UPLOADING
            model_version.save(update_fields=["reserved_bytes", "state", "updated_at"])

        written = {}
        try:
            with storage_errors():
                for path, size, member in members(spool, summary):
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
        model_version.reserved_bytes = 0
        model_version.state = VersionState.READY
        model_version.save(update_fields=["reserved_bytes", "state", "updated_at"])
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
        locked.reserved_bytes = 0
        if existing:
            locked.state = VersionState.READY
            locked.save(update_fields=["reserved_bytes", "state", "updated_at"])
        else:
            locked.save(update_fields=["reserved_bytes", "updated_at"])
            forget_if_empty(locked)
