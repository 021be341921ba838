"""Tests for the Kubernetes API emulator, driven through the official client over HTTP.

No Django needed: ``.venv/bin/pytest -p no:django testinfra/tests -q``.
"""

import json
import threading
import urllib.error
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from testinfra.kube_emulator import KubeEmulator

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


@pytest.fixture
def isolated_state():
    """Override the autouse fixture of ``testinfra.fixtures``, which needs Django settings: these
    tests need no Django and also run with ``-p no:django``."""


@pytest.fixture(scope="module")
def server():
    with KubeEmulator() as emulator:
        yield emulator


@pytest.fixture
def emu(server):
    server.reset()
    return server


@pytest.fixture
def api_client(emu):
    config = client.Configuration(host=emu.url)
    config.proxy = None  # client 37 reads HTTP(S)_PROXY from the environment; go direct
    with client.ApiClient(config) as api_client:
        yield api_client


@pytest.fixture
def core(api_client):
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client):
    return client.AppsV1Api(api_client)


@pytest.fixture
def custom(api_client):
    return client.CustomObjectsApi(api_client)


def namespace(name, **labels):
    return client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels or None))


def secret(name, namespace="team-a"):
    meta = client.V1ObjectMeta(name=name, namespace=namespace)
    return client.V1Secret(metadata=meta, string_data={"token": "s3cret"})


def pod(name, namespace="team-a", phase="Running", **labels):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
        "status": {"phase": phase},
    }


def quota(cpu="4", memory="8Gi", **extra_hard):
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "tenant-quota", "namespace": "team-a"},
        "spec": {"hard": {"requests.cpu": cpu, "requests.memory": memory, **extra_hard}},
    }


def apply_quota(core, body):
    return core.patch_namespaced_resource_quota(
        "tenant-quota", "team-a", body=body, field_manager="modelport", force=True,
        _content_type=APPLY,
    )  # fmt: skip


def raw_request(emu, method, path, body=None, content_type="application/json"):
    """Send a request without the client, for what the client cannot express."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(emu.url + path, data=data, method=method)
    request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def error_status(call, *args, **kwargs):
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    return caught.value


# -- server basics ---------------------------------------------------------------------------


def test_lifecycle_and_url():
    emulator = KubeEmulator()
    with pytest.raises(RuntimeError):
        _ = emulator.url
    with emulator:
        assert emulator.url.startswith("http://127.0.0.1:")
        assert raw_request(emulator, "GET", "/healthz")[::2] == (200, "ok")
    with pytest.raises(RuntimeError):
        _ = emulator.url


def test_version_and_discovery(api_client, emu):
    version = client.VersionApi(api_client).get_code()
    assert (version.major, version.minor) == ("1", "34")
    assert version.git_version == "v1.34.0-modelport-emulator"
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    groups = {group.name for group in client.ApisApi(api_client).get_api_versions().groups}
    assert {"apps", "networking.k8s.io", "rbac.authorization.k8s.io"} <= groups
    assert "serving.kserve.io" in groups


# -- namespaces and basic CRUD ---------------------------------------------------------------


def test_namespace_create_get_list_delete_cascades(core, emu):
    created = core.create_namespace(namespace("team-a", tenant="a"))
    assert created.metadata.name == "team-a"
    assert created.status.phase == "Active"
    core.create_namespace(namespace("team-b"))
    assert core.read_namespace("team-a").metadata.labels == {"tenant": "a"}
    listed = core.list_namespace()
    assert [ns.metadata.name for ns in listed.items] == ["team-a", "team-b"]
    assert [ns.metadata.name for ns in core.list_namespace(label_selector="tenant=a").items] == [
        "team-a"
    ]
    core.create_namespaced_secret("team-a", secret("db"))
    assert emu.get_object("Secret", "team-a", "db") is not None

    core.delete_namespace("team-a")

    assert error_status(core.read_namespace, "team-a").status == 404
    assert emu.get_object("Secret", "team-a", "db") is None
    assert [ns.metadata.name for ns in core.list_namespace().items] == ["team-b"]


def test_delete_returns_the_object_and_missing_delete_is_404(core):
    core.create_namespace(namespace("team-a"))
    core.create_namespaced_secret("team-a", secret("db"))
    deleted = core.delete_namespaced_secret("db", "team-a")
    assert deleted["metadata"]["name"] == "db"
    assert error_status(core.delete_namespaced_secret, "db", "team-a").status == 404
    core.create_namespaced_pod("team-a", pod("web"))
    assert core.delete_namespaced_pod("web", "team-a").metadata.name == "web"


def test_create_twice_is_409_already_exists(core):
    core.create_namespace(namespace("team-a"))
    error = error_status(core.create_namespace, namespace("team-a"))
    assert error.status == 409
    body = json.loads(error.body)
    assert body["kind"] == "Status"
    assert body["reason"] == "AlreadyExists"
    assert body["details"] == {"name": "team-a", "kind": "namespaces"}


def test_get_missing_is_404_with_status_body(core):
    error = error_status(core.read_namespaced_secret, "nope", "team-a")
    assert error.status == 404
    assert error.headers["Content-Type"] == "application/json"
    body = json.loads(error.body)
    assert body["status"] == "Failure"
    assert body["reason"] == "NotFound"
    assert body["code"] == 404
    assert body["message"] == 'secrets "nope" not found'


def test_create_into_missing_namespace_is_404(core):
    error = error_status(core.create_namespaced_secret, "ghost", secret("db", namespace="ghost"))
    assert error.status == 404
    assert json.loads(error.body)["details"] == {"name": "ghost", "kind": "namespaces"}


def test_metadata_is_stamped_and_resource_version_increases(core):
    first = core.create_namespace(namespace("team-a"))
    second = core.create_namespaced_secret("team-a", secret("db"))
    for obj in (first, second):
        assert len(obj.metadata.uid) == 36
        assert obj.metadata.creation_timestamp is not None
        assert obj.metadata.generation == 1
    assert second.metadata.namespace == "team-a"
    assert (second.api_version, second.kind) == ("v1", "Secret")
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    listed = core.list_namespaced_secret("team-a")
    assert int(listed.metadata.resource_version) >= int(second.metadata.resource_version)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"metadata": {}}, 400),
        ({"kind": "ConfigMap", "metadata": {"name": "db"}}, 400),
        ({"apiVersion": "v2", "metadata": {"name": "db"}}, 400),
        ({"metadata": {"name": "db", "namespace": "team-b"}}, 400),
        ({"metadata": {"name": "Not_A_Name"}}, 422),
    ],
)
def test_invalid_create_bodies(core, emu, body, code):
    core.create_namespace(namespace("team-a"))
    status, media_type, text = raw_request(
        emu, "POST", "/api/v1/namespaces/team-a/secrets", json.dumps(body)
    )
    assert (status, media_type) == (code, "application/json")
    assert json.loads(text)["code"] == code


def test_malformed_json_body_is_400(core, emu):
    core.create_namespace(namespace("team-a"))
    status, _, text = raw_request(emu, "POST", "/api/v1/namespaces/team-a/secrets", "{nope")
    assert status == 400
    assert json.loads(text)["reason"] == "BadRequest"


# -- selectors -------------------------------------------------------------------------------


@pytest.fixture
def labelled_pods(emu):
    emu.put_object({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "team-a"}})
    emu.put_object({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "team-b"}})
    emu.put_object(pod("api-1", app="api", tier="web"))
    emu.put_object(pod("api-2", app="api", tier="backend", phase="Pending"))
    emu.put_object(pod("worker", app="worker"))
    emu.put_object(pod("other", namespace="team-b", app="api", tier="web"))


@pytest.mark.usefixtures("labelled_pods")
@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=api", ["api-1", "api-2"]),
        ("app==api", ["api-1", "api-2"]),
        ("app!=api", ["worker"]),
        ("tier in (web,backend)", ["api-1", "api-2"]),
        ("tier notin (web)", ["api-2", "worker"]),
        ("tier", ["api-1", "api-2"]),
        ("!tier", ["worker"]),
        ("app=api,tier!=web", ["api-2"]),
        ("app in (api, worker),!tier", ["worker"]),
        ("", ["api-1", "api-2", "worker"]),
    ],
)
def test_label_selectors_on_namespaced_list(core, selector, expected):
    pods = core.list_namespaced_pod("team-a", label_selector=selector)
    assert [p.metadata.name for p in pods.items] == expected


@pytest.mark.usefixtures("labelled_pods")
def test_label_selector_across_namespaces(core):
    pods = core.list_pod_for_all_namespaces(label_selector="app=api,tier=web")
    assert [(p.metadata.namespace, p.metadata.name) for p in pods.items] == [
        ("team-a", "api-1"),
        ("team-b", "other"),
    ]
    assert pods.kind == "PodList"
    assert pods.items[0].kind is None  # like the real server, built-in list items lack kind


@pytest.mark.usefixtures("labelled_pods")
def test_field_selectors(core):
    by_name = core.list_pod_for_all_namespaces(field_selector="metadata.name=other")
    assert [p.metadata.name for p in by_name.items] == ["other"]
    by_namespace = core.list_pod_for_all_namespaces(field_selector="metadata.namespace!=team-a")
    assert [p.metadata.name for p in by_namespace.items] == ["other"]
    pending = core.list_namespaced_pod("team-a", field_selector="status.phase=Pending")
    assert [p.metadata.name for p in pending.items] == ["api-2"]


@pytest.mark.usefixtures("labelled_pods")
def test_lists_come_in_pages_of_limit_items_joined_by_continue(core):
    seen, token = [], None
    while True:
        page = core.list_pod_for_all_namespaces(limit=2, _continue=token)
        assert len(page.items) <= 2
        seen += [(p.metadata.namespace, p.metadata.name) for p in page.items]
        token = page.metadata._continue
        if not token:
            break

    everything = core.list_pod_for_all_namespaces()
    assert seen == [(p.metadata.namespace, p.metadata.name) for p in everything.items]
    assert len(seen) > 2
    assert everything.metadata._continue is None
    assert error_status(core.list_pod_for_all_namespaces, _continue="not-a-key").status == 400


@pytest.mark.usefixtures("labelled_pods")
def test_bad_label_selector_is_400(core):
    assert error_status(core.list_namespaced_pod, "team-a", label_selector="a in b").status == 400


# -- server-side apply -----------------------------------------------------------------------


def test_apply_creates_then_reapply_changes_nothing(core, emu):
    core.create_namespace(namespace("team-a"))
    created = apply_quota(core, quota())
    assert created.spec.hard == {"requests.cpu": "4", "requests.memory": "8Gi"}
    assert created.metadata.managed_fields[0].manager == "modelport"
    assert created.metadata.managed_fields[0].operation == "Apply"

    again = apply_quota(core, quota())

    assert again.metadata.resource_version == created.metadata.resource_version
    assert again.metadata.generation == 1
    assert [r.method for r in emu.requests].count("PATCH") == 2


def test_apply_of_changed_body_updates_and_bumps_generation(core):
    core.create_namespace(namespace("team-a"))
    created = apply_quota(core, quota())
    updated = apply_quota(core, quota(cpu="8"))
    assert updated.spec.hard["requests.cpu"] == "8"
    assert updated.metadata.generation == 2
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    assert updated.metadata.uid == created.metadata.uid
    assert core.read_namespaced_resource_quota("tenant-quota", "team-a").spec.hard == {
        "requests.cpu": "8",
        "requests.memory": "8Gi",
    }


def test_apply_removes_fields_the_manager_dropped_but_keeps_others(core):
    core.create_namespace(namespace("team-a"))
    apply_quota(core, quota(pods="10"))
    core.patch_namespaced_resource_quota(
        "tenant-quota", "team-a", {"metadata": {"labels": {"by-hand": "yes"}}}, _content_type=MERGE
    )
    result = apply_quota(core, quota())
    assert result.spec.hard == {"requests.cpu": "4", "requests.memory": "8Gi"}
    assert result.metadata.labels == {"by-hand": "yes"}


def test_apply_ignores_status_and_needs_field_manager_and_namespace(core):
    core.create_namespace(namespace("team-a"))
    body = {**quota(), "status": {"used": {"requests.cpu": "1"}}}
    assert apply_quota(core, body).status is None
    missing_manager = error_status(
        core.patch_namespaced_resource_quota, "tenant-quota", "team-a", quota(),
        _content_type=APPLY,
    )  # fmt: skip
    assert missing_manager.status == 400
    ghost = {**quota(), "metadata": {"name": "tenant-quota", "namespace": "ghost"}}
    error = error_status(
        core.patch_namespaced_resource_quota, "tenant-quota", "ghost", ghost,
        field_manager="modelport", _content_type=APPLY,
    )  # fmt: skip
    assert error.status == 404


def test_apply_accepts_a_yaml_body(core, emu):
    # The typed client only sends dicts/models (as JSON); a YAML body needs a raw request.
    core.create_namespace(namespace("team-a"))
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n"
    path = "/api/v1/namespaces/team-a/configmaps/settings?fieldManager=modelport"
    status, _, text = raw_request(emu, "PATCH", path, manifest, APPLY)
    assert status == 201
    assert json.loads(text)["data"] == {"mode": "fast"}
    assert core.read_namespaced_config_map("settings", "team-a").data == {"mode": "fast"}


def deployment(replicas=1, image="registry.local/model-server:1"):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "model-server", "namespace": "team-a", "labels": {"app": "m"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "m"}},
            "template": {
                "metadata": {"labels": {"app": "m"}},
                "spec": {"containers": [{"name": "server", "image": image}]},
            },
        },
    }


def test_apply_deployment(apps, core):
    core.create_namespace(namespace("team-a"))

    def apply(body):
        return apps.patch_namespaced_deployment(
            "model-server", "team-a", body, field_manager="modelport", force=True,
            _content_type=APPLY,
        )  # fmt: skip

    created = apply(deployment())
    assert created.spec.template.spec.containers[0].image == "registry.local/model-server:1"
    assert apply(deployment()).metadata.resource_version == created.metadata.resource_version
    updated = apply(deployment(replicas=3, image="registry.local/model-server:2"))
    assert updated.spec.replicas == 3
    assert updated.metadata.generation == 2
    listed = apps.list_namespaced_deployment("team-a", label_selector="app=m")
    assert [d.metadata.name for d in listed.items] == ["model-server"]


# -- replace, patch, status ------------------------------------------------------------------


def test_replace_with_stale_resource_version_is_409(core):
    core.create_namespace(namespace("team-a"))
    created = core.create_namespaced_config_map(
        "team-a", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"a": "1"})
    )
    created.data = {"a": "2"}
    replaced = core.replace_namespaced_config_map("settings", "team-a", created)
    assert replaced.data == {"a": "2"}
    assert replaced.metadata.uid == created.metadata.uid
    assert replaced.metadata.creation_timestamp == created.metadata.creation_timestamp

    created.data = {"a": "3"}  # still carries the old resourceVersion
    error = error_status(core.replace_namespaced_config_map, "settings", "team-a", created)
    assert error.status == 409
    assert json.loads(error.body)["reason"] == "Conflict"
    renamed = error_status(core.replace_namespaced_config_map, "other", "team-a", created)
    assert renamed.status == 400  # the body names "settings", the URL "other"
    created.metadata.name = "other"
    missing = error_status(core.replace_namespaced_config_map, "other", "team-a", created)
    assert missing.status == 404


def test_merge_patch_and_strategic_merge_patch(core):
    core.create_namespace(namespace("team-a"))
    core.create_namespaced_config_map(
        "team-a", {"metadata": {"name": "settings"}, "data": {"a": "1", "b": "2"}}
    )
    patched = core.patch_namespaced_config_map(
        "settings", "team-a", {"data": {"a": None, "c": "3"}}, _content_type=MERGE
    )
    assert patched.data == {"b": "2", "c": "3"}
    # Without _content_type the client sends strategic merge patch, treated as a merge patch.
    patched = core.patch_namespaced_config_map("settings", "team-a", {"data": {"b": "20"}})
    assert patched.data == {"b": "20", "c": "3"}


def test_json_patch(core):
    core.create_namespace(namespace("team-a"))
    core.create_namespaced_config_map("team-a", {"metadata": {"name": "s"}, "data": {"a": "1"}})
    operations = [
        {"op": "add", "path": "/data/b", "value": "2"},
        {"op": "replace", "path": "/data/a", "value": "10"},
        {"op": "add", "path": "/metadata/labels", "value": {"x/y": "z"}},
        {"op": "remove", "path": "/data/b"},
    ]
    patched = core.patch_namespaced_config_map(
        "s", "team-a", operations, _content_type="application/json-patch+json"
    )
    assert patched.data == {"a": "10"}
    assert patched.metadata.labels == {"x/y": "z"}
    bad = [{"op": "remove", "path": "/data/missing"}]
    error = error_status(
        core.patch_namespaced_config_map, "s", "team-a", bad,
        _content_type="application/json-patch+json",
    )  # fmt: skip
    assert error.status == 422


def test_unsupported_patch_type_is_415(core, emu):
    core.create_namespace(namespace("team-a"))
    status, _, _ = raw_request(emu, "PATCH", "/api/v1/namespaces/team-a", "{}", "text/plain")
    assert status == 415


def test_status_subresource(core, emu):
    core.create_namespace(namespace("team-a"))
    created = core.create_namespaced_pod("team-a", pod("web", phase="Pending"))
    patched = core.patch_namespaced_pod_status(
        "web", "team-a", {"status": {"phase": "Running"}, "spec": {"nodeName": "x"}},
        _content_type=MERGE,
    )  # fmt: skip
    assert patched.status.phase == "Running"
    assert patched.spec.node_name is None  # only status changes through /status
    assert patched.metadata.generation == created.metadata.generation
    # ... and writes to the pod itself keep the stored status.
    main = core.patch_namespaced_pod(
        "web", "team-a", {"status": {"phase": "Failed"}, "metadata": {"labels": {"a": "b"}}},
        _content_type=MERGE,
    )  # fmt: skip
    assert (main.status.phase, main.metadata.labels) == ("Running", {"a": "b"})
    assert core.read_namespaced_pod_status("web", "team-a").status.phase == "Running"


# -- faults, request log, custom objects, helpers --------------------------------------------


def test_fail_next_injects_one_error_then_recovers(core, emu):
    core.create_namespace(namespace("team-a"))
    emu.fail_next(method="PATCH", path_contains="/resourcequotas", status=500)
    core.create_namespaced_secret("team-a", secret("db"))  # not matching: unaffected
    error = error_status(apply_quota, core, quota())
    assert error.status == 500
    assert json.loads(error.body)["reason"] == "InternalError"
    assert apply_quota(core, quota()).spec.hard["requests.cpu"] == "4"

    emu.fail_next(status=503, times=2)
    assert error_status(core.list_namespace).status == 503
    assert error_status(core.read_namespace, "team-a").status == 503
    assert core.read_namespace("team-a").metadata.name == "team-a"


def test_request_log_records_calls(core, emu):
    core.create_namespace(namespace("team-a"))
    core.list_namespaced_pod("team-a", label_selector="app=api")
    assert emu.requests == [
        ("POST", "/api/v1/namespaces", ""),
        ("GET", "/api/v1/namespaces/team-a/pods", "labelSelector=app%3Dapi"),
    ]
    method, path, query = emu.requests[1]
    assert (method, path, query) == (emu.requests[1].method, emu.requests[1].path, query)
    emu.reset()
    assert emu.requests == []


INFERENCE = ("serving.kserve.io", "v1beta1")


def inference_service(name="llama", storage_uri="s3://models/llama"):
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "labels": {"tenant": "a"}},
        "spec": {
            "predictor": {"model": {"modelFormat": {"name": "vllm"}, "storageUri": storage_uri}}
        },
    }


def test_custom_objects_inference_service(custom, core, emu):
    core.create_namespace(namespace("team-a"))
    group, version = INFERENCE
    created = custom.create_namespaced_custom_object(
        group, version, "team-a", "inferenceservices", inference_service()
    )
    assert created["metadata"]["namespace"] == "team-a"
    assert created["metadata"]["generation"] == 1
    fetched = custom.get_namespaced_custom_object(
        group, version, "team-a", "inferenceservices", "llama"
    )
    assert fetched["spec"]["predictor"]["model"]["storageUri"] == "s3://models/llama"
    listed = custom.list_namespaced_custom_object(
        group, version, "team-a", "inferenceservices", label_selector="tenant=a"
    )
    assert listed["kind"] == "InferenceServiceList"
    assert [(i["kind"], i["metadata"]["name"]) for i in listed["items"]] == [
        ("InferenceService", "llama")
    ]
    applied = custom.patch_namespaced_custom_object(
        group, version, "team-a", "inferenceservices", "llama",
        inference_service(storage_uri="s3://models/llama-2"),
        field_manager="modelport", _content_type=APPLY,
    )  # fmt: skip
    assert applied["spec"]["predictor"]["model"]["storageUri"] == "s3://models/llama-2"
    assert applied["metadata"]["generation"] == 2

    custom.delete_namespaced_custom_object(group, version, "team-a", "inferenceservices", "llama")

    assert emu.objects(kind="InferenceService") == []
    error = error_status(
        custom.get_namespaced_custom_object, group, version, "team-a", "inferenceservices", "llama"
    )
    assert error.status == 404


def test_unknown_resource_is_404_until_registered(custom, core, emu):
    core.create_namespace(namespace("team-a"))
    args = ("example.com", "v1", "team-a", "widgets")
    assert error_status(custom.list_namespaced_custom_object, *args).status == 404
    assert raw_request(emu, "GET", "/api/v1/nothings")[0] == 404
    assert raw_request(emu, "GET", "/apis/apps/v1/namespaces/team-a/pods")[0] == 404

    emu.register_kind("example.com/v1", "Widget", "widgets")
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    custom.create_namespaced_custom_object(*args, body)
    widgets = custom.list_namespaced_custom_object(*args)["items"]
    assert [widget["metadata"]["name"] for widget in widgets] == ["w"]


def test_put_object_get_object_objects_and_delete_object(core, emu):
    emu.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    stored = emu.put_object(pod("web", phase="Pending"))
    assert stored["metadata"]["uid"]
    assert stored["metadata"]["creationTimestamp"].endswith("Z")
    assert core.read_namespaced_pod("web", "team-a").status.phase == "Pending"

    drifted = emu.put_object(pod("web", phase="Running"))
    assert drifted["metadata"]["uid"] == stored["metadata"]["uid"]
    assert int(drifted["metadata"]["resourceVersion"]) > int(stored["metadata"]["resourceVersion"])
    assert emu.get_object("Pod", "team-a", "web")["status"]["phase"] == "Running"

    core.create_namespaced_secret("team-a", secret("db"))
    assert [o["kind"] for o in emu.objects(namespace="team-a")] == ["Pod", "Secret"]
    assert [o["metadata"]["name"] for o in emu.objects(kind="Namespace")] == ["team-a"]
    assert len(emu.objects()) == 3

    assert emu.delete_object("Secret", "team-a", "db")["metadata"]["name"] == "db"
    assert error_status(core.read_namespaced_secret, "db", "team-a").status == 404
    assert emu.delete_object("Secret", "team-a", "db") is None
    emu.delete_object("Namespace", None, "team-a")
    assert emu.objects() == []
    with pytest.raises(ValueError):
        emu.put_object({"kind": "Gadget", "metadata": {"name": "g"}})


def test_concurrent_creates_get_distinct_resource_versions(core, emu):
    core.create_namespace(namespace("team-a"))
    versions, errors = [], []

    def create(index):
        try:
            created = core.create_namespaced_secret("team-a", secret(f"s{index}"))
            versions.append(created.metadata.resource_version)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(versions)) == 20
    assert len(emu.objects(kind="Secret")) == 20
