"""Tenant provisioning through the Kubernetes backend (the API emulator over HTTP, through the
official client) and S3 (versitygw over HTTP). Tasks run in this process (eager)."""

import base64

import pytest

from conftest import make_certificate
from core.phase import Phase
from tenants.manifests import role_binding_name
from tenants.models import Tenant, TenantBinding
from tenants.services import update_tenant
from tenants.tasks import reconcile_tenant, resync_tenants

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant(ca_pem):
    tenant = Tenant.objects.create(
        name="team-a",
        scope="group-a",
        ca_cert=ca_pem,
        quota={"maxEndpoints": 3, "requests.cpu": "2", "limits.cpu": "4", "limits.memory": "8Gi"},
    )
    TenantBinding.objects.create(tenant=tenant, group="group-a", role="editor")
    return tenant


def reconcile(tenant):
    reconcile_tenant.apply(kwargs={"pk": tenant.pk}).get()
    if Tenant.objects.filter(pk=tenant.pk).exists():
        tenant.refresh_from_db()
    return tenant


def kinds_in(kube, namespace):
    return sorted((o["kind"], o["metadata"]["name"]) for o in kube.objects(namespace=namespace))


def test_it_provisions_namespace_quota_isolation_rbac_ca_and_bucket(kube, s3, tenant, ca_pem):
    reconcile(tenant)

    assert tenant.phase == Phase.READY
    assert tenant.observed_generation == tenant.generation
    assert tenant.message == ""
    namespace = kube.get_object("Namespace", None, "team-a")
    assert namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modelport"
    assert kinds_in(kube, "team-a") == sorted(
        [
            ("ResourceQuota", "modelport-quota"),
            ("LimitRange", "modelport-defaults"),
            ("NetworkPolicy", "default-deny-ingress"),
            ("NetworkPolicy", "allow-platform-ingress"),
            ("Role", "modelport-viewer"),
            ("Role", "modelport-editor"),
            ("Role", "modelport-admin"),
            ("RoleBinding", role_binding_name("editor", "group-a")),
            ("Secret", "modelport-ca"),
        ]
    )
    quota = kube.get_object("ResourceQuota", "team-a", "modelport-quota")
    assert quota["spec"]["hard"] == {"requests.cpu": "2", "limits.cpu": "4", "limits.memory": "8Gi"}
    binding = kube.get_object("RoleBinding", "team-a", role_binding_name("editor", "group-a"))
    assert binding["subjects"][0] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Group",
        "name": "group-a",
    }
    assert binding["roleRef"]["name"] == "modelport-editor"
    secret = kube.get_object("Secret", "team-a", "modelport-ca")
    assert base64.b64decode(secret["data"]["ca.crt"]).decode() == ca_pem
    assert s3.bucket_exists("team-a")


def test_reconciling_twice_changes_nothing(kube, s3, tenant):
    reconcile(tenant)
    before = {
        (o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"] for o in kube.objects()
    }
    reconcile(tenant)
    after = {
        (o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"] for o in kube.objects()
    }
    assert after == before
    assert tenant.phase == Phase.READY


def test_a_server_error_is_retried_until_it_succeeds(kube, s3, tenant):
    kube.fail_next(method="PATCH", path_contains="/resourcequotas", status=500, times=2)
    reconcile(tenant)
    assert tenant.phase == Phase.READY
    assert kube.get_object("ResourceQuota", "team-a", "modelport-quota") is not None
    quota_applies = [
        r for r in kube.requests if r.method == "PATCH" and "/resourcequotas/" in r.path
    ]
    assert len(quota_applies) == 3


def test_a_permanent_error_is_written_to_phase_and_message(kube, s3, tenant):
    kube.fail_next(method="PATCH", path_contains="/limitranges", status=403, times=1)
    reconcile(tenant)
    assert tenant.phase == Phase.FAILED
    assert "403" in tenant.message
    assert "LimitRange" in tenant.message
    assert tenant.observed_generation == 0


def test_a_platform_tls_secret_is_copied_into_the_namespace(kube, s3, tenant, settings):
    settings.MODELPORT_TLS_SECRET = "modelport/wildcard-tls"
    kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "modelport"}})
    data = {
        "tls.crt": base64.b64encode(b"cert").decode(),
        "tls.key": base64.b64encode(b"key").decode(),
    }
    kube.put_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": "wildcard-tls", "namespace": "modelport"},
            "data": data,
        }
    )
    reconcile(tenant)
    assert kube.get_object("Secret", "team-a", "tls-secret")["data"] == data


def test_a_missing_platform_tls_secret_fails_with_a_clear_message(kube, s3, tenant, settings):
    settings.MODELPORT_TLS_SECRET = "modelport/wildcard-tls"
    reconcile(tenant)
    assert tenant.phase == Phase.FAILED
    assert "modelport/wildcard-tls does not exist" in tenant.message


def test_objects_no_longer_rendered_are_pruned(kube, s3, tenant):
    reconcile(tenant)
    Tenant.objects.filter(pk=tenant.pk).update(quota={}, generation=2)
    TenantBinding.objects.update(role="viewer")
    reconcile(tenant)
    assert kube.get_object("ResourceQuota", "team-a", "modelport-quota") is None
    assert kube.get_object("RoleBinding", "team-a", role_binding_name("editor", "group-a")) is None
    assert kube.get_object("RoleBinding", "team-a", role_binding_name("viewer", "group-a"))
    assert tenant.observed_generation == 2


# --- a changed tenant: what the API's PATCH (and the admin site) ask for ---------------------


def change(tenant, django_capture_on_commit_callbacks, **changes):
    """Change the tenant through the service and run the reconcile it schedules on commit."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        update_tenant(tenant, changes)
    assert len(callbacks) == 1
    tenant.refresh_from_db()
    return tenant


def test_a_changed_quota_drops_the_keys_it_no_longer_has(
    kube, s3, tenant, django_capture_on_commit_callbacks
):
    reconcile(tenant)
    change(
        tenant,
        django_capture_on_commit_callbacks,
        quota={"maxEndpoints": 3, "limits.cpu": "6", "requests.nvidia.com/gpu": "2"},
    )
    quota = kube.get_object("ResourceQuota", "team-a", "modelport-quota")
    assert quota["spec"]["hard"] == {"limits.cpu": "6", "requests.nvidia.com/gpu": "2"}
    assert (tenant.phase, tenant.observed_generation) == (Phase.READY, 2)


def test_a_quota_without_kubernetes_keys_deletes_the_resource_quota(
    kube, s3, tenant, django_capture_on_commit_callbacks
):
    reconcile(tenant)
    change(tenant, django_capture_on_commit_callbacks, quota={"maxEndpoints": 1})
    assert kube.get_object("ResourceQuota", "team-a", "modelport-quota") is None
    assert kube.get_object("LimitRange", "team-a", "modelport-defaults") is not None
    change(tenant, django_capture_on_commit_callbacks, quota={"limits.memory": "4Gi"})
    quota = kube.get_object("ResourceQuota", "team-a", "modelport-quota")
    assert quota["spec"]["hard"] == {"limits.memory": "4Gi"}


def test_a_replaced_ca_is_written_to_the_secret_and_a_removed_one_deletes_it(
    kube, s3, tenant, django_capture_on_commit_callbacks
):
    reconcile(tenant)
    other = make_certificate()
    change(tenant, django_capture_on_commit_callbacks, ca_cert=other)
    secret = kube.get_object("Secret", "team-a", "modelport-ca")
    assert base64.b64decode(secret["data"]["ca.crt"]).decode() == other
    change(tenant, django_capture_on_commit_callbacks, ca_cert="")
    assert kube.get_object("Secret", "team-a", "modelport-ca") is None
    assert tenant.phase == Phase.READY


def test_delete_removes_bucket_namespace_and_row(kube, s3, tenant):
    reconcile(tenant)
    s3.client.put_object(Bucket="team-a", Key="resnet/1/saved_model.pb", Body=b"model")
    from tenants.services import request_tenant_deletion

    request_tenant_deletion(tenant)
    reconcile(tenant)
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert not s3.bucket_exists("team-a")
    assert kube.get_object("Namespace", None, "team-a") is None
    assert kube.objects(namespace="team-a") == []


def test_delete_refuses_a_namespace_modelport_did_not_make(kube, s3, tenant):
    kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    from tenants.services import request_tenant_deletion

    request_tenant_deletion(tenant)
    reconcile(tenant)
    assert tenant.phase == Phase.FAILED
    assert "not made by Modelport" in tenant.message
    assert kube.get_object("Namespace", None, "team-a") is not None


def test_resync_brings_back_a_deleted_resource_quota(kube, s3, tenant):
    reconcile(tenant)
    kube.delete_object("ResourceQuota", "team-a", "modelport-quota")
    result = resync_tenants.apply().get()
    assert result["reconciled"] == 1
    assert kube.get_object("ResourceQuota", "team-a", "modelport-quota") is not None


def test_resync_lists_once_per_kind_whatever_the_number_of_tenants(kube, s3, tenant):
    for i in range(5):
        extra = Tenant.objects.create(name=f"extra-{i}", scope="g")
        reconcile(extra)
    reconcile(tenant)
    start = len(kube.requests)
    resync_tenants.apply()
    calls = kube.requests[start:]
    # namespaces for orphans, then each tenant kind once (namespace + six kinds) for drift
    assert len(calls) == 8
    assert {call.method for call in calls} == {"GET"}


def test_resync_removes_namespaces_of_ours_without_a_tenant(kube, s3, tenant):
    reconcile(tenant)
    Tenant.objects.filter(pk=tenant.pk).delete()
    kube.put_object(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "someone-elses"}}
    )
    result = resync_tenants.apply().get()
    assert result["orphans_removed"] == 1
    assert kube.get_object("Namespace", None, "team-a") is None
    assert kube.get_object("Namespace", None, "someone-elses") is not None


def test_the_local_orchestrator_makes_a_storage_folder_and_runtime_folder(tenant, settings):
    reconcile(tenant)
    assert tenant.phase == Phase.READY
    assert (settings.DATA_DIR / "storage" / "team-a").is_dir()
    assert (settings.DATA_DIR / "runtime" / "team-a").is_dir()


def test_resync_records_what_the_resource_quota_reports_as_used(kube, s3, tenant, admin_api):
    reconcile(tenant)
    quota = kube.get_object("ResourceQuota", "team-a", "modelport-quota")
    quota["status"] = {"hard": quota["spec"]["hard"], "used": {"requests.cpu": "500m"}}
    kube.put_object(quota)
    resync_tenants.apply().get()
    usage = admin_api.get("/tenants/team-a").json()["data"]["usage"]
    assert usage == {"quota": {"requests.cpu": "500m"}}
