"""The model store's stable error codes, and storage failures as the API reports them."""

from contextlib import contextmanager
from enum import StrEnum

from core.errors import BadGateway, Unavailable
from workers.errors import PermanentError, TransientError


class ModelStoreErrorCode(StrEnum):
    TENANT_NOT_READY = "tenant_not_ready"
    INVALID_MODEL_NAME = "invalid_model_name"
    INVALID_VERSION = "invalid_version"
    INVALID_FILE_NAME = "invalid_file_name"
    INVALID_OVERWRITE = "invalid_overwrite"
    INVALID_PART_NUMBER = "invalid_part_number"
    INVALID_UPLOAD_ID = "invalid_upload_id"
    INVALID_PARTS = "invalid_parts"
    INVALID_FILE_SIZE = "invalid_file_size"
    INVALID_ARCHIVE = "invalid_archive"
    ARCHIVE_TOO_MANY_FILES = "archive_too_many_files"
    ARCHIVE_TOO_LARGE = "archive_too_large"
    ARCHIVE_TOO_COMPRESSED = "archive_too_compressed"
    PATH_CLASH = "path_clash"
    LENGTH_REQUIRED = "length_required"
    PART_TOO_LARGE = "part_too_large"
    INVALID_PART_SIZE = "invalid_part_size"
    PART_SIZE_MISMATCH = "part_size_mismatch"
    UPLOAD_SIZE_DECLARED = "upload_size_declared"
    FILE_EXISTS = "file_exists"
    VERSION_EXISTS = "version_exists"
    VERSION_DELETING = "version_deleting"
    UPLOAD_IN_PROGRESS = "upload_in_progress"
    UPLOAD_NOT_FOUND = "upload_not_found"
    MODEL_VERSION_NOT_FOUND = "model_version_not_found"
    MODEL_VERSION_IN_USE = "model_version_in_use"
    MODEL_FILE_NOT_FOUND = "model_file_not_found"
    STORAGE_QUOTA_EXCEEDED = "storage_quota_exceeded"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    STORAGE_ERROR = "storage_error"
    LINK_EXPIRED = "link_expired"
    INVALID_SIGNATURE = "invalid_signature"


@contextmanager
def storage_errors(when_upload_missing=None):
    """Storage failures as API errors: unreachable is a 503; an upload or part that storage does
    not know is `when_upload_missing` (an error) if the caller gives one; anything else a 502."""
    try:
        yield
    except TransientError as exc:
        raise Unavailable(
            ModelStoreErrorCode.STORAGE_UNAVAILABLE,
            "Model storage is not reachable right now; try again in a minute.",
        ) from exc
    except PermanentError as exc:
        missing = any(code in str(exc) for code in ("NoSuchUpload", "InvalidPart"))
        if when_upload_missing is not None and missing:
            raise when_upload_missing from exc
        raise BadGateway(
            ModelStoreErrorCode.STORAGE_ERROR, f"Model storage refused the request: {exc}"
        ) from exc
