"""Archives (tar, tar.gz/bz2/xz, zip) uploaded as one request.

The body is spooled to a temporary file through a bounded buffer. Every member is checked
(regular files and folders only, safe relative paths, bounded count and size, and a bounded
unpacked-to-packed ratio, so a small bomb can't fill storage) before anything is written; then
each member is streamed into storage. Nothing is decompressed twice: a compressed tar is checked
while it is decompressed, once, into an uncompressed tar (read in stream mode, `r|*`, so never
whole in memory), which the writing reads; a zip's sizes are in its directory, and a member whose
checksum fails while it is written undoes the upload like any failure.
"""

import contextlib
import logging
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from core import audit
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
    source: object  # the file the members are read from: the upload, or its unpacked tar
    files: dict = field(default_factory=dict)  # path -> size

    @property
    def total_size(self):
        return sum(self.files.values())


@contextlib.contextmanager
def spooled_body(stream, length):
    """The request body in a temporary file, refusing bodies over the archive size limit."""
    limit = settings.MODELPORT_ARCHIVE_MAX_BYTES
    if length is not None and length > limit:
        raise bad_archive(
            f"The archive is {length} bytes; the limit is {limit} bytes.",
            ModelStoreErrorCode.ARCHIVE_TOO_LARGE,
        )
    with tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as spool:
        received = 0
        while data := stream.read(CHUNK_SIZE):
            received += len(data)
            if received > limit:
                raise bad_archive(
                    f"The archive is over the {limit}-byte limit.",
                    ModelStoreErrorCode.ARCHIVE_TOO_LARGE,
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


# Archives that unpack to less than this are never refused for their ratio.
RATIO_FLOOR_BYTES = 64 * 1024 * 1024


class _Limits:
    def __init__(self, packed_bytes):
        self.max_files = settings.MODELPORT_ARCHIVE_MAX_FILES
        self.max_bytes = settings.MODELPORT_ARCHIVE_MAX_BYTES
        ratio = settings.MODELPORT_ARCHIVE_MAX_RATIO
        self.ratio_bytes = max(ratio * packed_bytes, RATIO_FLOOR_BYTES)

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
        if summary.total_size + size > self.ratio_bytes:
            raise bad_archive(
                f"The archive unpacks to more than {settings.MODELPORT_ARCHIVE_MAX_RATIO} times "
                f"its own size ({self.ratio_bytes} bytes); upload it uncompressed or in parts.",
                ModelStoreErrorCode.ARCHIVE_TOO_COMPRESSED,
            )
        summary.files[path] = size


def _is_compressed(spool):
    spool.seek(0)
    head = spool.read(6)
    spool.seek(0)
    return head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"))


def _check_member_kind(name, is_dir, is_regular, kind):
    """A folder's name is checked; anything but a folder or a regular file is refused."""
    if is_dir:
        _check_folder(name)
    elif not is_regular:
        raise bad_archive(
            f"The archive member {name!r} is {kind}; only regular files and folders are allowed."
        )


def _checked_zip(spool, limits):
    summary = ArchiveSummary("zip", spool)
    with zipfile.ZipFile(spool) as archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            # Zip tools that record no file type leave these bits at 0.
            regular = not stat.S_IFMT(mode) or stat.S_ISREG(mode)
            _check_member_kind(info.filename, info.is_dir(), regular, "a link or special file")
            if not info.is_dir():
                limits.add(summary, info.filename, info.file_size)
    return summary


def _checked_tar(spool, limits, unpacked):
    """Check every member; a compressed archive is written out uncompressed to `unpacked` on
    the way (decompressed once), which the members are then read from."""
    summary = ArchiveSummary("tar", spool)
    with contextlib.ExitStack() as closing:
        copy = None
        if _is_compressed(spool):
            summary.source = unpacked
            copy = closing.enter_context(tarfile.open(fileobj=unpacked, mode="w|"))
        archive = closing.enter_context(tarfile.open(fileobj=spool, mode="r|*"))
        for member in archive:
            kind = "a link" if member.issym() or member.islnk() else "a special file"
            _check_member_kind(member.name, member.isdir(), member.isreg(), kind)
            if member.isreg():
                limits.add(summary, member.name, member.size)
                if copy is not None:
                    copy.addfile(member, archive.extractfile(member))
    return summary


@contextlib.contextmanager
def checked(spool):
    """The archive's summary once every member is checked, without writing anything to storage
    (a compressed tar is unpacked into a temporary file meanwhile, removed on leaving)."""
    packed = spool.seek(0, 2)
    spool.seek(0)
    limits = _Limits(packed)
    with tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as unpacked:
        if zipfile.is_zipfile(spool):
            spool.seek(0)
            try:
                summary = _checked_zip(spool, limits)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
                raise bad_archive(f"The zip archive can't be read: {exc}.") from None
        else:
            spool.seek(0)
            try:
                summary = _checked_tar(spool, limits, unpacked)
            except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
                raise bad_archive(
                    f"The body is not a readable tar, tar.gz or zip archive ({exc})."
                ) from None
        if not summary.files:
            raise bad_archive("The archive holds no files.")
        clash = validation.folder_clash(list(summary.files))
        if clash:
            raise bad_archive(
                f"The archive holds {clash[0]!r} as a file and {clash[1]!r} inside it as a "
                "folder; a name is either a file or a folder."
            )
        yield summary


# What reading a member can raise when the archive is corrupt (a zip member's checksum, a tar
# cut short): the upload is undone and the caller told.
CORRUPT_ARCHIVE = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error)


def members(summary):
    """(path, size, file object) for each regular file, in archive order."""
    source = summary.source
    source.seek(0)
    if summary.kind == "zip":
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    with archive.open(info) as member:
                        yield _member_path(info.filename), info.file_size, member
        return
    with tarfile.open(fileobj=source, mode="r|*") as archive:
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
    with spooled_body(stream, length) as spool, checked(spool) as summary:
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
                for path, size, member in members(summary):
                    written[path] = (
                        size,
                        store.put_stream(tenant.bucket, prefix + path, member, size),
                    )
        except CORRUPT_ARCHIVE as exc:
            _discard_partial_archive(store, tenant, model_version, prefix, written, existing)
            raise bad_archive(f"The archive is corrupt: {exc}.") from None
        except BaseException:
            _discard_partial_archive(store, tenant, model_version, prefix, written, existing)
            raise

    with transaction.atomic():
        # The tenant's lock, as every change to what its storage counts takes: a quota check
        # must not see the reservation gone and the files not yet in (two reads, one change).
        lock_tenant(tenant)
        model_version = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
        model_version.files.all().delete()
        ModelFile.objects.bulk_create(
            ModelFile(model_version=model_version, path=path, size=size, etag=etag)
            for path, (size, etag) in written.items()
        )
        model_version.reserved_bytes = 0
        model_version.state = VersionState.READY
        model_version.save(update_fields=["reserved_bytes", "state", "updated_at"])
        audit.record(
            "upload",
            "model_version",
            f"{model_version.name}/{model_version.version}",
            tenant=tenant.name,
            before={"files": len(existing)} if existing else None,
            after={"files": len(written), "bytes": sum(size for size, _ in written.values())},
        )
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
        lock_tenant(tenant)
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
