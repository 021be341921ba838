"""A folder on the local disk: the embedded default's object store."""

import hashlib
import os
import re
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from workers.errors import PermanentError
from workers.storage import signed_urls
from workers.storage.streams import CHUNK_SIZE, ExactLengthReader, multipart_etag

_LOCAL_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


class FilesystemObjectStore:
    """Buckets are folders under `root`; the embedded default's storage.

    Multipart parts are staged under `root/.staging/<bucket>/<upload id>/` (bucket names can't
    start with a dot) and assembled on completion into a temporary file that is renamed into
    place, so a reader never sees half a file."""

    def __init__(self, root):
        self.root = Path(root)

    def _object_path(self, bucket, key):
        # Keys are validated by the API (models_store.validation); this is a second fence.
        path = (self.bucket_path(bucket) / key).resolve()
        if not path.is_relative_to(self.bucket_path(bucket).resolve()):
            raise PermanentError(f"Key {key!r} leaves the bucket.")
        return path

    def _staging(self, bucket, upload_id):
        if not _LOCAL_UPLOAD_ID.match(upload_id):
            raise PermanentError("NoSuchUpload: the upload id is not one of ours.")
        return self.root / ".staging" / bucket / upload_id

    def _write_atomically(self, target, chunks):
        """Write the chunks to a temporary file beside `target`, then rename it into place."""
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @staticmethod
    def _chunks(stream, digest):
        while data := stream.read(CHUNK_SIZE):
            digest.update(data)
            yield data

    def create_multipart_upload(self, bucket, key):
        if not self.bucket_exists(bucket):
            raise PermanentError(f"NoSuchBucket: bucket {bucket} does not exist.")
        self._object_path(bucket, key)
        upload_id = uuid.uuid4().hex
        self._staging(bucket, upload_id).mkdir(parents=True)
        return upload_id

    def upload_part(self, bucket, key, upload_id, part_number, stream, length):
        staging = self._staging(bucket, upload_id)
        if not staging.is_dir():
            raise PermanentError("NoSuchUpload: the upload does not exist or has ended.")
        digest = hashlib.md5(usedforsecurity=False)
        body = ExactLengthReader(stream, length)
        self._write_atomically(staging / f"{part_number:05d}", self._chunks(body, digest))
        body.check_complete()
        return f'"{digest.hexdigest()}"'

    def complete_multipart_upload(self, bucket, key, upload_id, parts):
        staging = self._staging(bucket, upload_id)
        if not staging.is_dir():
            raise PermanentError("NoSuchUpload: the upload does not exist or has ended.")
        digests, paths = [], []
        for number, etag in parts:
            path = staging / f"{number:05d}"
            if not path.is_file():
                raise PermanentError(f"InvalidPart: part {number} was not uploaded.")
            digest = hashlib.md5(usedforsecurity=False)
            with path.open("rb") as part:
                for _ in self._chunks(part, digest):
                    pass
            if f'"{digest.hexdigest()}"' != f'"{etag.strip(chr(34))}"':
                raise PermanentError(f"InvalidPart: part {number}'s ETag does not match.")
            digests.append(digest.digest())
            paths.append(path)

        def assembled():
            for path in paths:
                with path.open("rb") as part:
                    yield from iter(lambda part=part: part.read(CHUNK_SIZE), b"")

        target = self._object_path(bucket, key)
        self._write_atomically(target, assembled())
        shutil.rmtree(staging, ignore_errors=True)
        return target.stat().st_size, multipart_etag(digests)

    def abort_multipart_upload(self, bucket, key, upload_id):
        shutil.rmtree(self._staging(bucket, upload_id), ignore_errors=True)

    def list_multipart_uploads(self, bucket):
        """Unfinished uploads, as (key, upload id, started at); staging does not record keys,
        and aborting needs none."""
        staging = self.root / ".staging" / bucket
        if not staging.is_dir():
            return
        for folder in sorted(staging.iterdir()):
            started = datetime.fromtimestamp(folder.stat().st_mtime, tz=UTC)
            yield "", folder.name, started

    def put_stream(self, bucket, key, stream, length):
        digest = hashlib.md5(usedforsecurity=False)
        body = ExactLengthReader(stream, length)
        self._write_atomically(self._object_path(bucket, key), self._chunks(body, digest))
        body.check_complete()
        return f'"{digest.hexdigest()}"'

    def list_objects(self, bucket, prefix=""):
        """Every object under `prefix`, as (key, size, ETag). Computing an MD5 for each file on
        every listing would read all the bytes, so ETags are empty here."""
        base = self.bucket_path(bucket)
        if not base.is_dir():
            return
        for directory, _, names in os.walk(base):
            for name in sorted(names):
                if name.startswith(".part-"):
                    continue  # a write in progress
                path = Path(directory) / name
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix):
                    yield key, path.stat().st_size, ""

    def delete_objects(self, bucket, keys):
        for key in keys:
            path = self._object_path(bucket, key)
            path.unlink(missing_ok=True)
            self._remove_empty_parents(bucket, path.parent)

    def make_folder(self, bucket, prefix):
        """An empty folder (S3 keeps a zero-byte object named `<prefix>/` for it)."""
        self._object_path(bucket, prefix).mkdir(parents=True, exist_ok=True)

    def delete_prefix(self, bucket, prefix):
        folder = self._object_path(bucket, prefix)
        shutil.rmtree(folder, ignore_errors=True)
        self._remove_empty_parents(bucket, folder.parent)

    def _remove_empty_parents(self, bucket, folder):
        base = self.bucket_path(bucket).resolve()
        while folder != base and folder.is_relative_to(base):
            try:
                folder.rmdir()
            except OSError:
                return  # not empty, or already gone
            folder = folder.parent

    def presigned_part_url(self, bucket, key, upload_id, part_number, length, expires, base_url):
        """The portal receives the part and holds it to its declared `length` itself."""
        token = signed_urls.sign_part(bucket, key, upload_id, part_number)
        return f"{base_url}{signed_urls.part_path(token)}"

    def presigned_download_url(self, bucket, key, expires, base_url):
        token = signed_urls.sign_download(bucket, key)
        return f"{base_url}{signed_urls.download_path(token)}"

    def open_object(self, bucket, key):
        return self._object_path(bucket, key).open("rb")

    def local_copy(self, bucket, prefix, cache):
        """The objects under `prefix` are files already: their folder is the copy."""
        return self._object_path(bucket, prefix)

    def object_size(self, bucket, key):
        path = self._object_path(bucket, key)
        return path.stat().st_size if path.is_file() else None

    def bucket_path(self, bucket):
        return self.root / bucket

    def bucket_exists(self, bucket):
        return self.bucket_path(bucket).is_dir()

    def ensure_bucket(self, bucket):
        self.bucket_path(bucket).mkdir(parents=True, exist_ok=True)

    def delete_bucket(self, bucket):
        shutil.rmtree(self.bucket_path(bucket), ignore_errors=True)

    def check(self):
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.root.is_dir():
            raise PermanentError(f"Storage folder {self.root} is not a folder.")
