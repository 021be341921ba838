"""Buckets let the portal's own pages PUT upload parts from the browser (CORS), and no one else."""

import pytest
from botocore.exceptions import ClientError

from workers.errors import PermanentError

BUCKET = "cors-test"


def test_buckets_allow_the_portal_origin_to_put_parts_and_read_etags(s3, settings):
    settings.S3_CORS_ORIGINS = ["https://modelport.example.com"]
    s3.ensure_bucket(BUCKET)
    (rule,) = s3.client.get_bucket_cors(Bucket=BUCKET)["CORSRules"]
    assert rule["AllowedOrigins"] == ["https://modelport.example.com"]
    assert "PUT" in rule["AllowedMethods"]
    assert rule["ExposeHeaders"] == ["ETag"]


def test_without_origins_the_bucket_gets_no_cors_rules(s3, settings):
    settings.S3_CORS_ORIGINS = []
    s3.ensure_bucket(BUCKET)
    with pytest.raises(ClientError, match="NoSuchCORSConfiguration"):
        s3.client.get_bucket_cors(Bucket=BUCKET)


def test_a_server_without_bucket_cors_is_tolerated_and_other_errors_are_not(
    s3, settings, monkeypatch
):
    settings.S3_CORS_ORIGINS = ["https://modelport.example.com"]
    s3.ensure_bucket(BUCKET)

    def refuse(code):
        def call(operation, **params):
            raise PermanentError(f"S3 {operation} failed: {code}: nope")

        return call

    monkeypatch.setattr(s3, "_call", refuse("NotImplemented"))
    s3.allow_browser_uploads(BUCKET)  # MinIO: server-wide CORS applies
    monkeypatch.setattr(s3, "_call", refuse("AccessDenied"))
    with pytest.raises(PermanentError, match="AccessDenied"):
        s3.allow_browser_uploads(BUCKET)
