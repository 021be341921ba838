"""S3 (MinIO, AWS, Ceph): the production object store, through boto3."""

import json
import logging
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError
from django.conf import settings

from workers.errors import PermanentError, TransientError
from workers.storage.streams import ExactLengthReader

logger = logging.getLogger(__name__)

# Objects written from a stream of known size (archive members) go up in parts of this size.
STREAM_PART_SIZE = 8 * 1024 * 1024

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
        credentials = {
            "endpoint_url": endpoint_url,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            "region_name": region,
        }
        settings_for_all = {
            "connect_timeout": 5,
            "read_timeout": 60,
            # Part bodies are streams that can't be read twice: hashing them for the signature
            # (botocore's default over plain HTTP) or for a checksum would mean buffering whole
            # parts. S3 does not require either for these calls.
            "s3": {"addressing_style": "path", "payload_signing_enabled": False},
            # Presigned URLs default to the legacy SigV2 query signature, which MinIO, versitygw
            # and S3 in every region opened since 2014 refuse.
            "signature_version": "s3v4",
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
        self.client = boto3.client(
            "s3",
            **credentials,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, **settings_for_all),
        )
        # A streamed part can't be sent again, so its client does not retry: the caller does,
        # with the same part (the reference CLI and browsers retry failed parts). Its bodies are
        # iterables, which botocore sends as they come but its parameter check does not know.
        self.stream_client = boto3.client(
            "s3",
            **credentials,
            config=Config(
                retries={"mode": "standard", "max_attempts": 1},
                parameter_validation=False,
                **settings_for_all,
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
        self.allow_browser_uploads(bucket)

    def allow_browser_uploads(self, bucket):
        """The portal's upload page PUTs parts straight to presigned URLs from the browser, which
        S3 allows only for origins in the bucket's CORS rules, and the page reads each part's
        ETag, which must be exposed. The origins are S3_CORS_ORIGINS (the portal's own)."""
        origins = settings.S3_CORS_ORIGINS
        if not origins:
            return
        rules = {
            "CORSRules": [
                {
                    "AllowedOrigins": list(origins),
                    "AllowedMethods": ["PUT", "GET"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 3600,
                }
            ]
        }
        try:
            self._call("put_bucket_cors", Bucket=bucket, CORSConfiguration=rules)
        except PermanentError as exc:
            if "NotImplemented" not in str(exc):
                raise
            # MinIO keeps CORS server-wide (MINIO_API_CORS_ALLOW_ORIGIN, all origins by default).
            logger.info("S3 has no per-bucket CORS; its server-wide CORS setting applies")

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

    def check(self):
        self._call("list_buckets")

    # --- objects ----------------------------------------------------------------------------

    def create_multipart_upload(self, bucket, key):
        return self._call("create_multipart_upload", Bucket=bucket, Key=key)["UploadId"]

    def upload_part(self, bucket, key, upload_id, part_number, stream, length):
        """Send `length` bytes read from `stream` as one part; returns the part's ETag."""
        body = ExactLengthReader(stream, length)
        try:
            # An iterable of 1 MiB chunks: a file-like body would be sent 16 KiB at a time.
            response = self.stream_client.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=part_number,
                Body=body.chunks(),
                ContentLength=length,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._translate("upload_part", exc) from exc
        body.check_complete()
        return response["ETag"]

    def complete_multipart_upload(self, bucket, key, upload_id, parts):
        """`parts` are (part number, ETag) pairs in order. Returns (size, ETag) of the object."""
        response = self._call(
            "complete_multipart_upload",
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
        )
        head = self._call("head_object", Bucket=bucket, Key=key)
        return head["ContentLength"], response.get("ETag", head.get("ETag", ""))

    def abort_multipart_upload(self, bucket, key, upload_id):
        try:
            self._call("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
        except PermanentError as exc:
            if "NoSuchUpload" not in str(exc) and "NoSuchBucket" not in str(exc):
                raise

    def list_multipart_uploads(self, bucket):
        """Unfinished multipart uploads in the bucket, as (key, upload id, started at)."""
        paginator = self.client.get_paginator("list_multipart_uploads")
        try:
            for page in paginator.paginate(Bucket=bucket):
                for upload in page.get("Uploads", []):
                    yield upload["Key"], upload["UploadId"], upload["Initiated"]
        except (ClientError, BotoCoreError) as exc:
            raise self._translate("list_multipart_uploads", exc) from exc

    def put_stream(self, bucket, key, stream, length):
        """Write an object from a stream of known length (an archive member); returns its ETag."""
        config = TransferConfig(
            multipart_threshold=STREAM_PART_SIZE,
            multipart_chunksize=STREAM_PART_SIZE,
            use_threads=False,
        )
        try:
            self.client.upload_fileobj(
                ExactLengthReader(stream, length), bucket, key, Config=config
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._translate("upload", exc) from exc
        return self._call("head_object", Bucket=bucket, Key=key)["ETag"]

    def list_objects(self, bucket, prefix=""):
        """Every object under `prefix`, as (key, size, ETag)."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"], item["Size"], item.get("ETag", "")
        except (ClientError, BotoCoreError) as exc:
            raise self._translate("list_objects_v2", exc) from exc

    def delete_objects(self, bucket, keys):
        keys = list(keys)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self._call("delete_objects", Bucket=bucket, Delete={"Objects": batch, "Quiet": True})

    def make_folder(self, bucket, prefix):
        """An empty folder: a zero-byte object named `<prefix>/`, as S3 consoles and tools make
        them (the index sync passes over it: it is no file)."""
        self._call("put_object", Bucket=bucket, Key=prefix.rstrip("/") + "/", Body=b"")

    def delete_prefix(self, bucket, prefix):
        self.delete_objects(bucket, [key for key, _, _ in self.list_objects(bucket, prefix)])

    def presigned_part_url(self, bucket, key, upload_id, part_number, length, expires, base_url):
        """The URL signs Content-Length too: storage refuses a body of any other length."""
        params = {"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number}
        return self.client.generate_presigned_url(
            "upload_part", Params={**params, "ContentLength": length}, ExpiresIn=expires
        )

    def presigned_download_url(self, bucket, key, expires, base_url):
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
        )

    def local_copy(self, bucket, prefix, cache):
        """A folder on this machine holding the objects under `prefix` (the local runtime reads
        models from disk). Objects are downloaded into `cache/<bucket>/<prefix>` once; an object
        whose ETag changed is downloaded again, and files no longer in storage are removed."""
        folder = Path(cache) / bucket / prefix
        folder.mkdir(parents=True, exist_ok=True)
        manifest_path = folder / ".etags.json"
        known = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        current = {}
        for key, _, etag in self.list_objects(bucket, prefix):
            relative = key[len(prefix) :]
            current[relative] = etag
            target = folder / relative
            if known.get(relative) != etag or not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".part-{target.name}")
                try:
                    self.client.download_file(bucket, key, str(partial))
                except (ClientError, BotoCoreError) as exc:
                    raise self._translate("download", exc) from exc
                partial.replace(target)
        for relative in set(known) - set(current):
            (folder / relative).unlink(missing_ok=True)
        manifest_path.write_text(json.dumps(current))
        return folder

    def object_size(self, bucket, key):
        """The object's size, or None if there is no such object."""
        try:
            return self.client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._translate("head_object", exc) from exc
        except BotoCoreError as exc:
            raise self._translate("head_object", exc) from exc
