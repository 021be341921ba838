"""The admin site shows model versions with their files, and lets nobody change them there."""

import pytest

from models_store.models import ModelFile, ModelVersion, VersionState
from tenants.models import Tenant


@pytest.fixture
def version(db):
    tenant = Tenant.objects.create(name="team-a", scope="g", phase="Ready")
    model_version = ModelVersion.objects.create(
        tenant=tenant, name="resnet", version=1, state=VersionState.READY
    )
    ModelFile.objects.create(
        model_version=model_version, path="variables/variables.index", size=42, etag='"abc"'
    )
    return model_version


@pytest.fixture
def admin_client_for_superuser(client, make_user):
    user = make_user("root", superuser=True)
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


def test_the_admin_lists_versions_and_shows_their_files(admin_client_for_superuser, version):
    listing = admin_client_for_superuser.get("/admin/models_store/modelversion/")
    assert listing.status_code == 200
    assert b"resnet" in listing.content
    page = admin_client_for_superuser.get(f"/admin/models_store/modelversion/{version.pk}/change/")
    assert page.status_code == 200
    assert b"variables/variables.index" in page.content


def test_the_admin_cannot_change_or_delete_versions(admin_client_for_superuser, version):
    url = f"/admin/models_store/modelversion/{version.pk}/change/"
    response = admin_client_for_superuser.post(url, {"state": "Deleting"})
    assert response.status_code == 403
    version.refresh_from_db()
    assert version.state == VersionState.READY
    delete = admin_client_for_superuser.post(
        f"/admin/models_store/modelversion/{version.pk}/delete/", {"post": "yes"}
    )
    assert delete.status_code == 403
    assert ModelVersion.objects.filter(pk=version.pk).exists()
