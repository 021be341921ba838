"""Checks on model input. Each function returns the clean value or raises Invalid with a stable
code and a sentence that says what is wrong."""

import re

from core.errors import Invalid
from models_store.errors import ModelStoreErrorCode

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# S3 keys are at most 1024 bytes; leave room for `<model>/<version>/`.
FILE_PATH_MAX_BYTES = 900
# A file or folder name on the filesystem backend (NAME_MAX), kept on S3 too.
SEGMENT_MAX_BYTES = 255
MAX_VERSION = 10**15
# S3's limits, which the filesystem backend keeps too so clients behave the same on both.
MAX_PART_NUMBER = 10_000
MAX_PART_BYTES = 5 * 1024**3
# S3 refuses to complete an upload if a part other than the last is smaller than this; clients
# (the portal's upload page) size their parts with it.
MIN_PART_BYTES = 5 * 1024**2


def model_name(value):
    if not isinstance(value, str) or not value:
        raise Invalid(
            ModelStoreErrorCode.INVALID_MODEL_NAME,
            "modelName is required.",
            fields={"modelName": []},
        )
    if not MODEL_NAME.fullmatch(value) or ".." in value:
        raise Invalid(
            ModelStoreErrorCode.INVALID_MODEL_NAME,
            "modelName must be 1 to 100 letters, digits, dots, hyphens or underscores, starting "
            f"with a letter or digit; {value!r} is not.",
            fields={"modelName": ["Invalid model name."]},
        )
    return value


def model_version(value):
    """Versions are positive whole numbers; the reference sends them as numbers or strings."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise Invalid(
            ModelStoreErrorCode.INVALID_VERSION,
            f"modelVersion must be a positive whole number such as 1; {value!r} is not.",
            fields={"modelVersion": ["Must be a positive whole number."]},
        )
    return value


def file_path(value, field="fileName"):
    """A relative path inside the version folder: `/` separates subfolders; no empty, `.` or
    `..` segments, no leading `/`, no backslashes or control characters."""

    def bad(reason):
        return Invalid(
            ModelStoreErrorCode.INVALID_FILE_NAME,
            f"{field} {reason}; {value!r} is not allowed.",
            fields={field: [reason[0].upper() + reason[1:] + "."]},
        )

    if not isinstance(value, str) or not value:
        raise Invalid(
            ModelStoreErrorCode.INVALID_FILE_NAME, f"{field} is required.", fields={field: []}
        )
    if value.startswith("/"):
        raise bad("must be a relative path")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value) or "\\" in value:
        raise bad("must not contain control characters or backslashes")
    if any(segment in ("", ".", "..") for segment in value.split("/")):
        raise bad("must not contain empty, '.' or '..' path segments")
    if len(value.encode()) > FILE_PATH_MAX_BYTES:
        raise bad(f"must be at most {FILE_PATH_MAX_BYTES} bytes long")
    if any(len(segment.encode()) > SEGMENT_MAX_BYTES for segment in value.split("/")):
        raise bad(f"must not have a file or folder name longer than {SEGMENT_MAX_BYTES} bytes")
    return value


def folder_key(value):
    """The reference clients' "key": a subfolder of the version (a relative path), or None for
    the version's own folder (null, absent or "")."""
    if value is None or value == "":
        return None
    return file_path(value, "key")


def in_folder(key, file_name):
    """The path of `file_name` inside the folder `key` (None: the version's own folder)."""
    folder = folder_key(key)
    return file_name if folder is None else file_path(f"{folder}/{file_name}")


def folders_of(path):
    """The folders `path` sits in: "a/b/c" is in "a" and "a/b"."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def folder_clash(paths):
    """(file, path inside it) if one of `paths` is also a folder of another ("a" and "a/b"),
    which a filesystem can't hold and S3 would hold only confusingly; else None."""
    files = set(paths)
    for path in paths:
        for folder in folders_of(path):
            if folder in files:
                return folder, path
    return None


def part_number(value):
    """A whole number from 1 to MAX_PART_NUMBER, as a number or in ASCII digits (not " 2",
    "+4", "1_0" or "٣", which int() takes)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    number = value if isinstance(value, int) and not isinstance(value, bool) else 0
    if not 1 <= number <= MAX_PART_NUMBER:
        raise Invalid(
            ModelStoreErrorCode.INVALID_PART_NUMBER,
            f"partNumber must be a whole number from 1 to {MAX_PART_NUMBER}; {value!r} is not.",
            fields={"partNumber": ["Invalid part number."]},
        )
    return number


def _whole_number(value):
    return isinstance(value, int) and not isinstance(value, bool)


def file_size(value):
    if not _whole_number(value) or value < 0:
        raise Invalid(
            ModelStoreErrorCode.INVALID_FILE_SIZE,
            f"fileSize must be the file size in bytes, 0 or more; {value!r} is not.",
            fields={"fileSize": ["Must be a whole number of bytes."]},
        )
    return value


def part_size(value, size):
    """The part size for a file of `size` bytes: storage's limits on parts, and at most
    MAX_PART_NUMBER parts."""

    def invalid(sentence):
        raise Invalid(
            ModelStoreErrorCode.INVALID_PART_SIZE, sentence, fields={"partSize": [sentence]}
        )

    if not _whole_number(value) or not 1 <= value <= MAX_PART_BYTES:
        invalid(f"partSize must be a whole number of bytes from 1 to {MAX_PART_BYTES}.")
    if size > value and value < MIN_PART_BYTES:
        invalid(
            f"partSize must be at least {MIN_PART_BYTES} bytes when the file has more than one "
            "part (storage refuses smaller parts but the last)."
        )
    if -(-size // value) > MAX_PART_NUMBER:
        invalid(
            f"A file of {size} bytes in parts of {value} would take more than {MAX_PART_NUMBER} "
            f"parts; use parts of at least {-(-size // MAX_PART_NUMBER)} bytes."
        )
    return value


def upload_id(value):
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise Invalid(
            ModelStoreErrorCode.INVALID_UPLOAD_ID, "uploadId is required.", fields={"uploadId": []}
        )
    return value


def overwrite_flag(value):
    if value in (None, False, "", "false", "0", "no"):
        return False
    if value in (True, "true", "1", "yes"):
        return True
    raise Invalid(
        ModelStoreErrorCode.INVALID_OVERWRITE,
        f"overwrite must be true or false; {value!r} is not.",
        fields={"overwrite": ["Must be true or false."]},
    )


def parts_list(value):
    """The `parts` of upload/done: [{"ETag": "...", "PartNumber": 1}, ...], as S3 takes them."""
    if not isinstance(value, list) or not value:
        raise Invalid(
            ModelStoreErrorCode.INVALID_PARTS,
            'parts must be a non-empty list such as [{"ETag": "...", "PartNumber": 1}].',
            fields={"parts": ["Must be a non-empty list."]},
        )
    clean = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("ETag"), str):
            raise Invalid(
                ModelStoreErrorCode.INVALID_PARTS,
                'Each part must be an object with "ETag" and "PartNumber".',
                fields={"parts": ["Each part needs ETag and PartNumber."]},
            )
        clean.append((part_number(item.get("PartNumber")), item["ETag"]))
    numbers = [number for number, _ in clean]
    if numbers != sorted(set(numbers)):
        raise Invalid(
            ModelStoreErrorCode.INVALID_PARTS,
            "parts must be in ascending PartNumber order, each number once.",
            fields={"parts": ["Parts out of order or repeated."]},
        )
    return clean
