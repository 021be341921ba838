"""The S3 server under the tests enforces what S3 does: signatures, expiry, signed headers, part
sizes (moto, which the suite used before, checked none of them)."""

import base64
import contextlib
import hashlib
import http.client
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from testinfra.versitygw import VersityGatewayServer, versitygw_binary

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server():
    if versitygw_binary() is None:
        pytest.fail("versitygw is not built: `make test` builds it (testinfra/build_versitygw.sh)")
    with VersityGatewayServer() as started:
        yield started


@pytest.fixture
def s3(server):
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(s3):
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def put(url, body, headers=None, chunked=False):
    """PUT with the standard library, as a browser or curl would, so boto3 adds no header."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        # The server may refuse and close before reading the body: read its answer all the same.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request(
                "PUT",
                f"{parts.path}?{parts.query}",
                body=iter([body]) if chunked else body,
                headers=headers or {},
                encode_chunked=chunked,
            )
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def presigned_part(s3, bucket, key, upload_id, number, **params):
    return s3.generate_presigned_url(
        "upload_part",
        Params={
            "Bucket": bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": number,
            **params,
        },
        ExpiresIn=300,
    )


def test_create_bucket_put_and_get_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="models/a.bin", Body=b"weights")

    assert s3.get_object(Bucket=bucket, Key="models/a.bin")["Body"].read() == b"weights"


def test_presigned_part_binds_the_signed_content_length(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    url = presigned_part(s3, bucket, "big", upload_id, 1, ContentLength=10)

    # botocore signs every header of the presigned request, Content-Length included.
    assert parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"] == ["content-length;host"]
    for body in (b"x" * 11, b"x" * 9):
        status, text = put(url, body)
        assert status == 403
        assert "SignatureDoesNotMatch" in text
    status, text = put(url, b"x" * 10, chunked=True)  # no Content-Length header at all
    assert status == 403
    assert "SignatureDoesNotMatch" in text
    assert put(url, b"x" * 10)[0] == 200


def test_presigned_part_without_content_length_takes_any_length(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    url = presigned_part(s3, bucket, "big", upload_id, 1)

    assert parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"] == ["host"]
    assert put(url, b"x" * 11)[0] == 200


def test_presigned_part_with_content_md5_binds_the_bytes(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    body = b"g" * 10
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - S3's Content-MD5
    url = presigned_part(s3, bucket, "big", upload_id, 1, ContentLength=10, ContentMD5=md5)

    status, text = put(url, body)  # the uploader must send the signed Content-MD5 header
    assert (status, "SignatureDoesNotMatch" in text) == (403, True)
    status, text = put(url, b"h" * 10, {"Content-MD5": md5})
    assert (status, "BadDigest" in text) == (400, True)
    assert put(url, body, {"Content-MD5": md5})[0] == 200


def test_expired_presigned_url_is_refused(s3, bucket):
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "late"}, ExpiresIn=1
    )
    time.sleep(2)

    status, text = put(url, b"too late")

    assert status == 403
    assert "expired" in text.lower()


def test_tampered_presigned_url_is_refused(s3, bucket):
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "tampered"}, ExpiresIn=300
    )
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    signature = query["X-Amz-Signature"]
    query["X-Amz-Signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
    tampered = urlunsplit(parts._replace(query=urlencode(query)))

    status, text = put(tampered, b"data")

    assert status == 403
    assert "SignatureDoesNotMatch" in text
    assert put(url, b"data")[0] == 200


def test_small_non_last_part_is_refused_at_completion(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    parts = []
    for number, body in ((1, b"a" * MIB), (2, b"b" * 1024)):
        etag = s3.upload_part(
            Bucket=bucket, Key="small", UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})

    with pytest.raises(ClientError) as refused:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="small", UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    assert refused.value.response["Error"]["Code"] == "EntityTooSmall"


def test_five_mib_non_last_part_completes(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="ok")["UploadId"]
    parts = []
    for number, body in ((1, b"a" * 5 * MIB), (2, b"b" * 1024)):
        etag = s3.upload_part(
            Bucket=bucket, Key="ok", UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})

    s3.complete_multipart_upload(
        Bucket=bucket, Key="ok", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )

    assert s3.head_object(Bucket=bucket, Key="ok")["ContentLength"] == 5 * MIB + 1024
