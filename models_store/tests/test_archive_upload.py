"""A whole version in one archive: good ones are unpacked, hostile ones leave nothing behind."""

import io
import stat
import tarfile
import threading
import zipfile

import pytest

from models_store.models import ModelVersion, VersionState
from models_store.tests.conftest import pending_uploads, stored_objects

SAVED_MODEL = {"saved_model.pb": b"graph" * 100, "variables/variables.index": b"index"}


def tar_bytes(members, mode="w:gz"):
    """`members` are (TarInfo, bytes or None)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def regular(name, data):
    return tarfile.TarInfo(name), data


def special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def folder_tar(files, mode="w:gz"):
    root = tarfile.TarInfo(".")
    root.type = tarfile.DIRTYPE
    variables = tarfile.TarInfo("./variables")
    variables.type = tarfile.DIRTYPE
    members = [(root, None), (variables, None)]
    return tar_bytes(members + [regular(f"./{n}", d) for n, d in files.items()], mode)


def zip_bytes(files, symlinks=()):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def put_archive(api, data, version=1, query=""):
    return api.put(
        f"/tenants/team-a/upload/archive?modelName=resnet&modelVersion={version}{query}",
        data,
        content_type="application/octet-stream",
    )


def assert_nothing_written(store, tenant):
    assert stored_objects(store, tenant.bucket) == {}
    assert pending_uploads(store, tenant.bucket) == []
    assert not ModelVersion.objects.exists()


# --- good archives --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_a_tar_of_a_folder_becomes_a_version(editor_api, tenant, store, mode):
    response = put_archive(editor_api, folder_tar(SAVED_MODEL, mode))
    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert data["model_path"] == "resnet/1/"
    assert [f["path"] for f in data["files"]] == [
        "resnet/1/saved_model.pb",
        "resnet/1/variables/variables.index",
    ]
    assert stored_objects(store, tenant.bucket) == {
        "resnet/1/saved_model.pb": 500,
        "resnet/1/variables/variables.index": 5,
    }
    assert ModelVersion.objects.get().state == VersionState.READY


def test_a_zip_becomes_a_version(editor_api, tenant, store):
    response = put_archive(editor_api, zip_bytes(SAVED_MODEL))
    assert response.status_code == 201, response.json()
    assert stored_objects(store, tenant.bucket) == {
        "resnet/1/saved_model.pb": 500,
        "resnet/1/variables/variables.index": 5,
    }


def test_a_member_larger_than_a_stream_part_arrives_whole(editor_api, tenant, store):
    big = bytes(range(256)) * (40 * 1024 + 7)  # about 10 MiB: more than one 8 MiB part
    response = put_archive(editor_api, tar_bytes([regular("weights.bin", big)], "w"))
    assert response.status_code == 201, response.json()
    assert stored_objects(store, tenant.bucket) == {"resnet/1/weights.bin": len(big)}


# --- overwrite rules ------------------------------------------------------------------------


def test_an_archive_into_an_existing_version_is_a_409_unless_overwrite(editor_api, tenant, store):
    assert put_archive(editor_api, folder_tar(SAVED_MODEL)).status_code == 201

    again = put_archive(editor_api, tar_bytes([regular("other.pb", b"new")]))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "version_exists"
    assert len(stored_objects(store, tenant.bucket)) == 2

    replaced = put_archive(
        editor_api, tar_bytes([regular("other.pb", b"new")]), query="&overwrite=true"
    )
    assert replaced.status_code == 201
    # Overwrite replaces the whole version: files that are not in the new archive are gone.
    assert stored_objects(store, tenant.bucket) == {"resnet/1/other.pb": 3}
    assert list(ModelVersion.objects.get().files.values_list("path", flat=True)) == ["other.pb"]


# --- hostile and broken archives ------------------------------------------------------------


HOSTILE_TARS = {
    "absolute path": [regular("/etc/cron.d/evil", b"x")],
    "parent folder": [regular("../../evil", b"x")],
    "parent inside": [regular("variables/../../evil", b"x")],
    "symlink": [special("link", tarfile.SYMTYPE, "/etc/passwd")],
    "hardlink": [regular("a", b"x"), special("b", tarfile.LNKTYPE, "a")],
    "character device": [special("dev", tarfile.CHRTYPE)],
    "block device": [special("disk", tarfile.BLKTYPE)],
    "fifo": [special("pipe", tarfile.FIFOTYPE)],
    "duplicate": [regular("a", b"x"), regular("a", b"y")],
    "control character": [regular("bad\x01name", b"x")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TARS))
def test_a_hostile_tar_is_a_400_and_writes_nothing(editor_api, tenant, store, case):
    # Good members come first, so a check made while writing would already have written them.
    members = [regular("saved_model.pb", b"graph"), *HOSTILE_TARS[case]]
    response = put_archive(editor_api, tar_bytes(members))
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "invalid_archive"
    assert_nothing_written(store, tenant)


@pytest.mark.parametrize(
    ("files", "symlinks"),
    [({"../evil": b"x"}, ()), ({"/abs": b"x"}, ()), ({"ok": b"x"}, [("link", "/etc/passwd")])],
)
def test_a_hostile_zip_is_a_400_and_writes_nothing(editor_api, tenant, store, files, symlinks):
    response = put_archive(editor_api, zip_bytes({"saved_model.pb": b"g", **files}, symlinks))
    assert response.status_code == 400, response.json()
    assert_nothing_written(store, tenant)


def test_too_many_files_is_a_400_and_writes_nothing(editor_api, tenant, store, settings):
    settings.MODELPORT_ARCHIVE_MAX_FILES = 3
    response = put_archive(editor_api, tar_bytes([regular(f"f{i}", b"x") for i in range(4)]))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "archive_too_many_files"
    assert_nothing_written(store, tenant)


def test_too_many_unpacked_bytes_is_a_400_and_writes_nothing(editor_api, tenant, store, settings):
    settings.MODELPORT_ARCHIVE_MAX_BYTES = 10_000
    # Compresses to a few hundred bytes: the limit is on what would be written, not sent.
    members = [regular("a", b"x" * 6000), regular("b", b"x" * 6000)]
    response = put_archive(editor_api, tar_bytes(members))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "archive_too_large"
    assert_nothing_written(store, tenant)


def test_a_body_larger_than_the_limit_is_refused_before_it_is_read(editor_api, tenant, settings):
    settings.MODELPORT_ARCHIVE_MAX_BYTES = 100
    response = put_archive(editor_api, b"x" * 101)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "archive_too_large"


@pytest.mark.parametrize("body", [b"not an archive at all", b"", tar_bytes([])])
def test_something_that_is_not_an_archive_is_a_400(editor_api, tenant, store, body):
    response = put_archive(editor_api, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_archive"
    assert_nothing_written(store, tenant)


def test_a_truncated_tar_gz_is_a_400_and_writes_nothing(editor_api, tenant, store):
    data = folder_tar({"saved_model.pb": bytes(range(256)) * 4000})
    response = put_archive(editor_api, data[: len(data) // 2])
    assert response.status_code == 400
    assert_nothing_written(store, tenant)


def test_an_archive_over_the_storage_quota_is_refused(editor_api, tenant, store):
    tenant.quota = {"maxStorageBytes": 100}
    tenant.save()
    response = put_archive(editor_api, folder_tar(SAVED_MODEL))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "storage_quota_exceeded"
    assert_nothing_written(store, tenant)


def test_a_viewer_cannot_upload_an_archive(viewer_api, tenant, store):
    assert put_archive(viewer_api, folder_tar(SAVED_MODEL)).status_code == 403
    assert_nothing_written(store, tenant)


@pytest.mark.django_db(transaction=True)
def test_concurrent_archives_can_not_all_take_the_same_free_bytes(tenant, editor, store):
    """Five archives of 3 MiB into a tenant with 5 MiB of quota, at once: the bytes of those
    being unpacked are counted, so one fits and the others are refused (all five fitted while
    only finished archives counted)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from core.errors import TooLarge
    from models_store.archives import upload_archive

    tenant.quota = {"maxStorageBytes": 5 * 1024 * 1024}
    tenant.save()
    data = tar_bytes([regular("model.joblib", bytes(3 * 1024 * 1024))], mode="w")
    barrier = threading.Barrier(5)

    def upload(version):
        try:
            barrier.wait()
            upload_archive(
                tenant=tenant,
                user=editor,
                name="big",
                version=version,
                stream=io.BytesIO(data),
                length=len(data),
                overwrite=False,
            )
            return "stored"
        except TooLarge:
            return "refused"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(5) as pool:
        outcomes = sorted(pool.map(upload, range(10, 15)))
    assert outcomes == ["refused"] * 4 + ["stored"]
    assert sum(stored_objects(store, tenant.bucket).values()) == 3 * 1024 * 1024
    assert ModelVersion.objects.get(name="big").reserved_bytes == 0
