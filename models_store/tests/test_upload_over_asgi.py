"""The upload path as deployed: a real uvicorn process serving the portal over ASGI, where the
request body arrives as a spooled stream rather than the test client's in-memory one."""

import hashlib
import http.client
import json
import os
import subprocess
import sys

import pytest

from models_store.tests.conftest import MiB, make_ready_tenant, read_object, stored_objects
from testinfra.fixtures import ROOT, _database_url
from testinfra.servers import free_port, stop_process, wait_for_http


@pytest.fixture
def portal_server(transactional_db, store, settings, tmp_path, s3_server):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": _database_url(),
        "MODELPORT_DATA_DIR": str(tmp_path),  # the filesystem store's root is <this>/storage
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    if settings.MODELPORT_STORAGE["backend"] == "s3":
        env |= s3_server.environment()
    else:
        env.pop("S3_ENDPOINT_URL", None)
    port = free_port()
    log = (tmp_path / "uvicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=process)
        yield port
    finally:
        stop_process(process)
        log.close()


def call(port, method, path, token, body=b"", content_type="application/json"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Authorization": token, "Content-Type": content_type}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_multipart_upload_through_uvicorn_arrives_whole(portal_server, store, make_user):
    from identity.models import PersonalAccessToken

    tenant = make_ready_tenant(store, "team-a", {"team-a-editors": "editor"})
    _, token = PersonalAccessToken.issue(make_user("erin", groups=["team-a-editors"]))
    ids = {"modelName": "resnet", "modelVersion": 1, "fileName": "variables/data"}
    status, started = call(
        portal_server, "POST", "/tenants/team-a/upload/start", token, json.dumps(ids).encode()
    )
    assert status == 200, started

    parts, expected = [], hashlib.md5(usedforsecurity=False)
    for number, size in enumerate([6 * MiB, 6 * MiB, 123], start=1):
        data = hashlib.sha256(bytes([number])).digest() * (size // 32) + b"x" * (size % 32)
        expected.update(data)
        query = (
            "modelName=resnet&modelVersion=1&fileName=variables/data"
            f"&partNumber={number}&uploadId={started['data']['uploadId']}"
        )
        status, part = call(
            portal_server,
            "PUT",
            f"/tenants/team-a/upload?{query}",
            token,
            data,
            "application/octet-stream",
        )
        assert status == 200, part
        parts.append({"ETag": part["data"]["ETag"], "PartNumber": number})

    done = {**ids, "uploadId": started["data"]["uploadId"], "parts": parts}
    status, body = call(
        portal_server, "POST", "/tenants/team-a/upload/done", token, json.dumps(done).encode()
    )
    assert status == 200, body
    size = 12 * MiB + 123
    assert body["data"] == {
        "path": "resnet/1/variables/data",
        "name": "resnet",
        "version": "1",
        "size": size,
        "uploadId": started["data"]["uploadId"],
    }
    assert stored_objects(store, tenant.bucket) == {"resnet/1/variables/data": size}
    assert read_object(store, tenant.bucket, "resnet/1/variables/data") == (
        expected.hexdigest(),
        size,
    )
