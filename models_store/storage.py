"""Object storage behind one interface: S3 (MinIO, AWS, Ceph) in production, a folder on the local
disk in the embedded default. Buckets are per tenant; keys are `<model>/<version>/<file>`."""

import functools
import shutil
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError
from django.conf import settings

from workers.errors import PermanentError, TransientError

_TRANSIENT_S3_CODES = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "Throttling",
}


class S3ObjectStore:
    def __init__(self, endpoint_url, access_key_id, secret_access_key, region):
        self.endpoint_url = endpoint_url
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
            config=Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"mode": "standard", "max_attempts": 3},
                s3={"addressing_style": "path"},
            ),
        )

    def _translate(self, operation, exc):
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            message = f"S3 {operation} failed: {error.get('Code')}: {error.get('Message')}"
            if status >= 500 or status == 429 or error.get("Code") in _TRANSIENT_S3_CODES:
                return TransientError(message)
            return PermanentError(message)
        if isinstance(exc, (ConnectionError, HTTPClientError)):
            return TransientError(f"S3 at {self.endpoint_url} is unreachable: {exc}")
        return PermanentError(f"S3 {operation} failed: {exc}")

    def _call(self, operation, **params):
        try:
            return getattr(self.client, operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(operation, exc) from exc

    def bucket_exists(self, bucket):
        try:
            self.client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise self._translate("head_bucket", exc) from exc
        except BotoCoreError as exc:
            raise self._translate("head_bucket", exc) from exc
        return True

    def ensure_bucket(self, bucket):
        if not self.bucket_exists(bucket):
            try:
                self._call("create_bucket", Bucket=bucket)
            except PermanentError as exc:
                if "BucketAlreadyOwnedByYou" not in str(exc):
                    raise

    def delete_bucket(self, bucket):
        """Empty the bucket (objects and unfinished multipart uploads), then remove it."""
        if not self.bucket_exists(bucket):
            return
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self._call("delete_objects", Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        uploads = self._call("list_multipart_uploads", Bucket=bucket).get("Uploads", [])
        for upload in uploads:
            self._call(
                "abort_multipart_upload",
                Bucket=bucket,
                Key=upload["Key"],
                UploadId=upload["UploadId"],
            )
        try:
            self._call("delete_bucket", Bucket=bucket)
        except PermanentError as exc:
            if "NoSuchBucket" not in str(exc):
                raise

    def has_prefix(self, bucket, prefix):
        """Whether any object's key starts with `prefix`: one request, at most one key back."""
        try:
            response = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return False
            raise self._translate("list_objects_v2", exc) from exc
        except BotoCoreError as exc:
            raise self._translate("list_objects_v2", exc) from exc
        return response.get("KeyCount", 0) > 0

    def check(self):
        self._call("list_buckets")


class FilesystemObjectStore:
    """Buckets are folders under `root`; the embedded default's storage."""

    def __init__(self, root):
        self.root = Path(root)

    def bucket_path(self, bucket):
        return self.root / bucket

    def bucket_exists(self, bucket):
        return self.bucket_path(bucket).is_dir()

    def ensure_bucket(self, bucket):
        self.bucket_path(bucket).mkdir(parents=True, exist_ok=True)

    def delete_bucket(self, bucket):
        shutil.rmtree(self.bucket_path(bucket), ignore_errors=True)

    def has_prefix(self, bucket, prefix):
        """Whether a file exists under `prefix` (a folder path such as `resnet/`)."""
        folder = self.bucket_path(bucket) / prefix
        if not folder.is_dir():
            return False
        return any(path.is_file() for path in folder.rglob("*"))

    def check(self):
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.root.is_dir():
            raise PermanentError(f"Storage folder {self.root} is not a folder.")


@functools.cache
def _store_for(config_items):
    config = dict(config_items)
    if config["backend"] == "s3":
        return S3ObjectStore(
            config["endpoint_url"],
            config["access_key_id"],
            config["secret_access_key"],
            config["region"],
        )
    return FilesystemObjectStore(config["root"])


def get_object_store():
    """The store the settings describe, built once per configuration."""
    return _store_for(tuple(sorted(settings.MODELPORT_STORAGE.items())))
