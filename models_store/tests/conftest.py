"""The model store's tests run once against a real S3 server (versitygw: signatures, expiry and
signed headers checked) and once against the filesystem backend: the same behaviour is expected
from both."""

import hashlib
from pathlib import Path

import pytest

from core.phase import Phase
from tenants.models import Tenant, TenantBinding
from workers.storage.s3 import S3ObjectStore

MiB = 1024 * 1024


@pytest.fixture(params=["filesystem", "s3"])
def store(request, settings):
    if request.param == "s3":
        return request.getfixturevalue("s3")
    from workers.storage import get_object_store

    return get_object_store()


def make_ready_tenant(store, name, group_roles):
    tenant = Tenant.objects.create(name=name, scope=f"{name}-editors", phase=Phase.READY)
    for group, role in group_roles.items():
        TenantBinding.objects.create(tenant=tenant, group=group, role=role)
    store.ensure_bucket(tenant.bucket)
    return tenant


@pytest.fixture
def tenant(db, store):
    return make_ready_tenant(
        store, "team-a", {"team-a-editors": "editor", "team-a-viewers": "viewer"}
    )


@pytest.fixture
def other_tenant(db, store):
    return make_ready_tenant(store, "team-b", {"team-b-editors": "editor"})


@pytest.fixture
def editor(make_user):
    return make_user("erin", groups=["team-a-editors"])


@pytest.fixture
def editor_api(editor, client_for):
    return client_for(editor)


@pytest.fixture
def viewer_api(make_user, client_for):
    return client_for(make_user("vic", groups=["team-a-viewers"]))


def stored_objects(store, bucket):
    """{key: size} of what storage holds, read from storage itself."""
    return {key: size for key, size, _ in store.list_objects(bucket)}


def pending_uploads(store, bucket):
    """Multipart uploads storage still holds for the bucket."""
    if isinstance(store, S3ObjectStore):
        return store.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    staging = Path(store.root) / ".staging" / bucket
    return sorted(p.name for p in staging.iterdir()) if staging.is_dir() else []


def read_object(store, bucket, key):
    """The object's MD5 and size, read in chunks."""
    digest, size = hashlib.md5(usedforsecurity=False), 0
    if isinstance(store, S3ObjectStore):
        body = store.client.get_object(Bucket=bucket, Key=key)["Body"]
        chunks = body.iter_chunks(MiB)
    else:
        handle = store.open_object(bucket, key)
        chunks = iter(lambda: handle.read(MiB), b"")
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def upload_file(api, tenant_name, name, version, file_name, parts, overwrite=None):
    """The reference CLI's sequence: start, one PUT per part, done. Returns the done response."""
    body = {"modelName": name, "modelVersion": version, "fileName": file_name}
    if overwrite is not None:
        body["overwrite"] = overwrite
    started = api.post(f"/tenants/{tenant_name}/upload/start", body, format="json")
    if started.status_code != 200:
        return started
    upload_id = started.json()["data"]["uploadId"]
    etags = []
    for number, data in enumerate(parts, start=1):
        response = put_part(api, tenant_name, name, version, file_name, upload_id, number, data)
        assert response.status_code == 200, response.json()
        etags.append({"ETag": response.json()["data"]["ETag"], "PartNumber": number})
    done = {"modelName": name, "modelVersion": version, "fileName": file_name}
    done |= {"uploadId": upload_id, "parts": etags}
    return api.post(f"/tenants/{tenant_name}/upload/done", done, format="json")


def put_part(api, tenant_name, name, version, file_name, upload_id, number, data):
    query = (
        f"modelName={name}&modelVersion={version}&fileName={file_name}"
        f"&partNumber={number}&uploadId={upload_id}"
    )
    return api.put(
        f"/tenants/{tenant_name}/upload?{query}", data, content_type="application/octet-stream"
    )
