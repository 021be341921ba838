"""The endpoint calls of the reference API, their validation and who may make them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from endpoints.models import Endpoint
from models_store.models import ModelVersion, VersionState
from tenants.models import Tenant, TenantBinding

BODY = {
    "endpointName": "endpoint",
    "modelName": "resnet",
    "modelVersionPolicy": "{latest {}}",
    "servingName": "tf-serving",
    "subjectName": "client",
    "resources": {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    },
}


def create(api, **changes):
    return api.post("/tenants/test/endpoints", {**BODY, **changes}, format="json")


# --- the reference calls, verbatim ----------------------------------------------------------


def test_reference_create_warns_when_the_model_is_absent(editor_api, s3):
    s3.ensure_bucket("test")
    response = create(editor_api)
    assert response.status_code == 201, response.json()
    assert response.json() == {
        "status": "CREATED",
        "data": {
            "url": "endpoint-test.test-domain.com:443",
            "warning": "resnet model is not available on the platform",
        },
    }
    endpoint = Endpoint.objects.get(name="endpoint")
    assert endpoint.version_policy == "{latest {}}"
    assert endpoint.replicas == 1
    assert endpoint.serving.name == "tf-serving"
    assert endpoint.resources == BODY["resources"]


def test_reference_create_has_no_warning_when_the_model_has_a_ready_version(editor_api):
    tenant = Tenant.objects.get(name="test")
    ModelVersion.objects.create(tenant=tenant, name="resnet", version=1, state=VersionState.READY)
    ModelVersion.objects.create(tenant=tenant, name="resnet-other", version=1, state="Ready")
    response = create(editor_api)
    assert response.json() == {
        "status": "CREATED",
        "data": {"url": "endpoint-test.test-domain.com:443", "warning": ""},
    }
    # A model whose name merely starts with another's is not that model.
    response = create(editor_api, endpointName="other", modelName="resne")
    assert response.json()["data"]["warning"] == "resne model is not available on the platform"


def test_a_version_still_uploading_does_not_count_as_available(editor_api):
    tenant = Tenant.objects.get(name="test")
    ModelVersion.objects.create(tenant=tenant, name="resnet", version=1, state="Uploading")
    assert create(editor_api).json()["data"]["warning"] != ""


def test_reference_list_shows_name_url_and_status(editor_api, make_endpoint):
    make_endpoint("endpoint1", phase="Ready")
    make_endpoint("endpoint2", phase="Provisioning")
    response = editor_api.get("/tenants/test/endpoints")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "OK"
    assert body["data"] == {
        "endpoints": [
            {
                "name": "endpoint1",
                "url": "endpoint1-test.test-domain.com:443",
                "status": "available",
            },
            {
                "name": "endpoint2",
                "url": "endpoint2-test.test-domain.com:443",
                "status": "provisioning",
            },
        ]
    }
    assert body["pagination"]["count"] == 2


def test_the_list_makes_the_same_queries_for_one_or_many_endpoints(editor_api, make_endpoint):
    make_endpoint("one")
    editor_api.get("/tenants/test/endpoints")  # the token's last use is recorded once a minute
    with CaptureQueriesContext(connection) as one:
        editor_api.get("/tenants/test/endpoints")
    for index in range(30):
        make_endpoint(f"e{index}")
    with CaptureQueriesContext(connection) as many:
        assert len(editor_api.get("/tenants/test/endpoints").json()["data"]["endpoints"]) == 31
    assert len(many.captured_queries) == len(one.captured_queries)


def test_reference_detail_body(editor_api, make_endpoint):
    make_endpoint(
        resources={
            "requests": {"cpu": "1", "memory": "1Gi"},
            "limits": {"cpu": "2", "memory": "2Gi"},
        },
        running_pods=1,
        available_replicas=1,
        phase="Ready",
    )
    response = editor_api.get("/tenants/test/endpoints/endpoint")
    assert response.status_code == 200
    assert response.json() == {
        "status": "OK",
        "data": {
            "endpoint status": {"running pods": 1, "pending pods": 0, "failed pods": 0},
            "endpoint url": "endpoint-test.test-domain.com:443",
            "subject name": "client",
            "resources": {
                "requests": {"cpu": "1", "memory": "1Gi"},
                "limits": {"cpu": "2", "memory": "2Gi"},
            },
            "replicas": {"available": 1, "unavailable": None},
            "desired replicas": 1,
            "model name": "resnet",
            "model version policy": "{latest {}}",
            "serving name": "tf-serving",
            "phase": "Ready",
            "message": "",
            "generation": 1,
            "observedGeneration": 0,
        },
    }


def test_reference_patch_changes_model_and_policy(editor_api, make_endpoint, settings):
    endpoint = make_endpoint()
    body = {"modelName": "new-model", "modelVersionPolicy": "{latest {}}"}
    response = editor_api.patch("/tenants/test/endpoints/endpoint", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "status": "PATCHED",
        "data": {"url": "endpoint-test.test-domain.com:443", "values": body},
    }
    updated = Endpoint.objects.get(pk=endpoint.pk)
    assert updated.model_name == "new-model"
    assert updated.generation == endpoint.generation + 1


def test_a_patch_that_changes_nothing_keeps_the_generation(editor_api, make_endpoint):
    endpoint = make_endpoint()
    editor_api.patch("/tenants/test/endpoints/endpoint", {"subjectName": "client"}, format="json")
    assert Endpoint.objects.get(pk=endpoint.pk).generation == endpoint.generation


def test_reference_scale(editor_api, make_endpoint):
    endpoint = make_endpoint()
    response = editor_api.patch(
        "/tenants/test/endpoints/endpoint/replicas", {"replicas": 2}, format="json"
    )
    assert response.json() == {
        "status": "PATCHED",
        "data": {"url": "endpoint-test.test-domain.com:443", "values": {"replicas": 2}},
    }
    updated = Endpoint.objects.get(pk=endpoint.pk)
    assert updated.replicas == 2
    assert updated.generation == endpoint.generation  # a scale is not a configuration change


def test_scale_to_zero_is_allowed(editor_api, make_endpoint):
    make_endpoint()
    response = editor_api.patch(
        "/tenants/test/endpoints/endpoint/replicas", {"replicas": 0}, format="json"
    )
    assert response.status_code == 200
    assert Endpoint.objects.get().replicas == 0


def test_reference_delete_marks_the_endpoint_for_deletion(editor_api, make_endpoint):
    make_endpoint()
    response = editor_api.delete(
        "/tenants/test/endpoints", {"endpointName": "endpoint"}, format="json"
    )
    assert response.json() == {
        "status": "DELETED",
        "data": {"url": "endpoint-test.test-domain.com:443"},
    }
    endpoint = Endpoint.objects.get()
    assert endpoint.deletion_requested_at is not None
    listed = editor_api.get("/tenants/test/endpoints").json()["data"]["endpoints"]
    assert listed[0]["status"] == "deleting"
    patched = editor_api.patch(
        "/tenants/test/endpoints/endpoint", {"subjectName": "x"}, format="json"
    )
    assert patched.status_code == 409
    assert patched.json()["error"]["code"] == "endpoint_deleting"


def test_deleting_an_endpoint_named_with_a_nul_character_is_a_404(editor_api, make_endpoint):
    # Found by schemathesis: PostgreSQL refuses NUL in a query, which was a 500.
    make_endpoint("endpoint")
    response = editor_api.delete(
        "/tenants/test/endpoints", {"endpointName": "endpoint\x00"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "endpoint_not_found"


def test_reference_servings_list_and_detail(editor_api):
    response = editor_api.get("/servings")
    assert response.json() == {
        "status": "OK",
        "data": ["kserve", "kserve-llm", "mlserver", "ovms", "tf-serving", "vllm"],
    }
    detail = editor_api.get("/servings/tf-serving").json()
    assert detail["status"] == "OK"
    assert sorted(detail["data"]) == [
        "configMap.tmpl",
        "deployment.tmpl",
        "ingress.tmpl",
        "service.tmpl",
    ]
    assert "kind: Deployment" in detail["data"]["deployment.tmpl"]
    missing = editor_api.get("/servings/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "serving_not_found"


def test_the_runtime_says_which_formats_it_serves_with_which_library_versions(editor_api):
    import importlib.metadata
    from pathlib import Path

    from django.conf import settings

    data = editor_api.get("/runtime").json()["data"]
    assert data["orchestrator"] == "local"
    assert data["defaultServing"] == "mlserver"
    formats = {f["name"]: f for f in data["formats"]}
    assert set(formats) == {"scikit-learn", "LightGBM", "GGUF language model"}
    # The versions are those installed beside the mlserver command, not the portal's own.
    site = [str(p) for p in Path(settings.MODELPORT_MLSERVER).parent.parent.glob("lib/*/site-*")]
    [sklearn] = importlib.metadata.distributions(name="scikit-learn", path=site)
    assert formats["scikit-learn"]["version"] == sklearn.version
    assert data["libraries"]["scikit-learn"] == sklearn.version
    assert data["libraries"]["mlserver"].startswith("1.")
    # Language models: llama-cpp-python's server, in its own virtualenv.
    site = [
        str(p) for p in Path(settings.MODELPORT_LLAMA_PYTHON).parent.parent.glob("lib/*/site-*")
    ]
    [llama] = importlib.metadata.distributions(name="llama-cpp-python", path=site)
    assert formats["GGUF language model"]["version"] == llama.version
    assert formats["GGUF language model"]["library"] == "llama-cpp-python"


def test_a_cluster_runtime_leaves_the_formats_to_its_templates(editor_api, settings):
    settings.MODELPORT_ORCHESTRATOR = "kubernetes"
    settings.MODELPORT_DEFAULT_SERVING = "tf-serving"
    data = editor_api.get("/runtime").json()["data"]
    assert data == {
        "orchestrator": "kubernetes",
        "defaultServing": "tf-serving",
        "formats": [],
        "libraries": {},
    }


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"endpointName": "Upper"}, "endpointName"),
        ({"endpointName": "1starts-with-digit"}, "endpointName"),
        ({"endpointName": "x" * 33}, "endpointName"),
        ({"endpointName": "ends-"}, "endpointName"),
        ({"endpointName": 7}, "endpointName"),
        ({"modelName": "../etc"}, "modelName"),
        ({"modelName": ""}, "modelName"),
        ({"modelVersionPolicy": "{newest {}}"}, "modelVersionPolicy"),
        ({"modelVersionPolicy": "{specific {}}"}, "modelVersionPolicy"),
        ({"modelVersionPolicy": "{specific { versions: 0 }}"}, "modelVersionPolicy"),
        ({"subjectName": "not a name"}, "subjectName"),
        ({"subjectName": ""}, "subjectName"),
        ({"resources": {"requests": {"cpu": "lots"}}}, "resources"),
        ({"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}, "resources"),
        ({"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}}, "resources"),
        ({"resources": {"asks": {"cpu": "1"}}}, "resources"),
        ({"resources": "1 cpu"}, "resources"),
        ({"replicas": -1}, "replicas"),
        ({"replicas": "2"}, "replicas"),
        ({"replicas": True}, "replicas"),
        # Python's $ matches before a final newline and \d matches any script's digits.
        ({"endpointName": "endpoint\n"}, "endpointName"),
        ({"modelName": "resnet\n"}, "modelName"),
        ({"subjectName": "client\n"}, "subjectName"),
        ({"resources": {"requests": {"cpu\n": "1"}}}, "resources"),
        ({"resources": {"requests": {"cpu": "1\n"}}}, "resources"),
        ({"modelVersionPolicy": "{specific {versions: \u0661}}"}, "modelVersionPolicy"),
    ],
)
def test_it_rejects_invalid_fields(editor_api, changes, field):
    response = create(editor_api, **changes)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert error["message"].startswith(field)
    assert not Endpoint.objects.exists()


def test_it_rejects_missing_required_fields(editor_api):
    response = editor_api.post("/tenants/test/endpoints", {"endpointName": "e"}, format="json")
    assert response.status_code == 400
    # servingName and subjectName have defaults (test_serving_and_subject_have_defaults).
    assert set(response.json()["error"]["fields"]) == {"modelName"}


def test_it_rejects_unknown_fields(editor_api):
    response = create(editor_api, replica=2)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_field"


def test_it_rejects_an_unknown_serving_template(editor_api):
    response = create(editor_api, servingName="triton")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_serving"
    assert "tf-serving" in error["message"]


def test_a_serving_name_with_a_nul_character_is_an_unknown_serving_template(editor_api):
    # Found by schemathesis: PostgreSQL refuses NUL in a query, which was a 500.
    response = create(editor_api, servingName="tf-serving\x00")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_serving"


@pytest.mark.parametrize(
    ("policy", "stored"),
    [
        ("{ latest {} }", "{latest {}}"),
        ("{all{}}", "{all {}}"),
        ("{ specific { versions: 2 versions: 1 } }", "{specific {versions: 1 versions: 2}}"),
        ("{specific {versions:3}}", "{specific {versions: 3}}"),
    ],
)
def test_version_policies_are_whitespace_tolerant_and_stored_canonically(
    editor_api, policy, stored
):
    assert create(editor_api, modelVersionPolicy=policy).status_code == 201
    assert Endpoint.objects.get().version_policy == stored


def test_a_patch_validates_its_fields(editor_api, make_endpoint):
    make_endpoint()
    for body, code in [
        ({"modelVersionPolicy": "latest"}, "validation_error"),
        ({"replicas": 3}, "unknown_field"),
        ({}, "validation_error"),
    ]:
        response = editor_api.patch("/tenants/test/endpoints/endpoint", body, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == code


def test_scale_rejects_negative_replicas(editor_api, make_endpoint):
    make_endpoint()
    response = editor_api.patch(
        "/tenants/test/endpoints/endpoint/replicas", {"replicas": -2}, format="json"
    )
    assert response.status_code == 400
    assert "replicas" in response.json()["error"]["fields"]


def test_a_second_endpoint_with_the_same_name_is_a_conflict(editor_api):
    assert create(editor_api).status_code == 201
    response = create(editor_api)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "endpoint_exists"


def test_max_endpoints_is_enforced(editor_api, tenant):
    tenant.quota = {"maxEndpoints": 1}
    tenant.save()
    assert create(editor_api).status_code == 201
    response = create(editor_api, endpointName="second")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "endpoint_quota_exceeded"
    assert "at most 1" in response.json()["error"]["message"]


def test_a_limit_lowered_below_the_count_keeps_the_endpoints_and_says_how_many_must_go(
    editor_api, admin_api, make_endpoint
):
    for name in ("one", "two", "three"):
        make_endpoint(name=name)
    response = admin_api.patch("/tenants/test", {"quota": {"maxEndpoints": 1}}, format="json")
    assert response.status_code == 200
    assert Endpoint.objects.filter(deletion_requested_at__isnull=True).count() == 3
    refused = create(editor_api, endpointName="four")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        "Endpoints have reached the quantity limit: tenant 'test' has 3 endpoints, counting "
        "those being deleted, and may have at most 1 "
        "(maxEndpoints); delete 3 to make room for another, or ask a platform admin for more."
    )
    admin_api.patch("/tenants/test", {"quota": {"maxEndpoints": 0}}, format="json")
    assert create(editor_api, endpointName="four").json()["error"]["message"] == (
        "Endpoints have reached the quantity limit: tenant 'test' may have no endpoints "
        "(maxEndpoints is 0); ask a platform admin for more."
    )


# --- who may do what ------------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_write(viewer_api, make_endpoint):
    make_endpoint()
    assert viewer_api.get("/tenants/test/endpoints").status_code == 200
    assert viewer_api.get("/tenants/test/endpoints/endpoint").status_code == 200
    writes = [
        create(viewer_api, endpointName="other"),
        viewer_api.patch("/tenants/test/endpoints/endpoint", {"subjectName": "x"}, format="json"),
        viewer_api.patch(
            "/tenants/test/endpoints/endpoint/replicas", {"replicas": 3}, format="json"
        ),
        viewer_api.delete("/tenants/test/endpoints", {"endpointName": "endpoint"}, format="json"),
    ]
    for response in writes:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    endpoint = Endpoint.objects.get()
    assert endpoint.replicas == 1
    assert endpoint.deletion_requested_at is None


def test_another_tenants_endpoint_is_a_404(make_user, client_for, make_endpoint):
    make_endpoint()
    other = Tenant.objects.create(name="other", scope="group-b")
    TenantBinding.objects.create(tenant=other, group="group-b", role="admin")
    stranger = client_for(make_user("sam", groups=["group-b"]))
    for response in [
        stranger.get("/tenants/test/endpoints"),
        stranger.get("/tenants/test/endpoints/endpoint"),
        stranger.patch("/tenants/test/endpoints/endpoint", {"subjectName": "x"}, format="json"),
        stranger.patch("/tenants/test/endpoints/endpoint/replicas", {"replicas": 3}, format="json"),
        stranger.delete("/tenants/test/endpoints", {"endpointName": "endpoint"}, format="json"),
        stranger.post("/tenants/test/endpoints", BODY, format="json"),
    ]:
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "tenant_not_found"
    # Their own tenant has no endpoint of that name either.
    response = stranger.get("/tenants/other/endpoints/endpoint")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "endpoint_not_found"


def test_anonymous_requests_are_refused(client, tenant):
    response = client.get("/tenants/test/endpoints")
    assert response.status_code in (401, 403)
    assert client.get("/servings").status_code in (401, 403)
    assert client.get("/runtime").status_code in (401, 403)


def test_a_serving_template_name_with_a_nul_character_is_not_found(editor_api):
    # PostgreSQL refuses NUL in a query, which was a 500.
    response = editor_api.get("/servings/tf-serving%00")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "serving_not_found"


def test_a_version_policy_longer_than_what_is_stored_is_a_400(editor_api, make_endpoint):
    # It was a 500: the policy column holds 500 characters.
    make_endpoint("endpoint")
    versions = " ".join(f"versions: {number}" for number in range(1, 80))
    response = editor_api.patch(
        "/tenants/test/endpoints/endpoint",
        {"modelVersionPolicy": f"{{specific {{{versions}}}}}"},
        format="json",
    )
    assert response.status_code == 400
    assert "modelVersionPolicy" in response.json()["error"]["fields"]


def test_reference_flat_resource_keys_are_taken_on_create_and_patch(editor_api, tenant):
    """The reference's JSON schema, tests and CLI send resources flat ("requests.cpu")."""
    flat = {
        "requests.cpu": "1",
        "requests.memory": "1Gi",
        "limits.cpu": "2",
        "limits.memory": "2Gi",
    }
    assert create(editor_api, resources=flat).status_code == 201
    expected = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
    assert Endpoint.objects.get(name="endpoint").resources == expected

    changed = editor_api.patch(
        "/tenants/test/endpoints/endpoint", {"resources": {"limits.cpu": "4"}}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert Endpoint.objects.get(name="endpoint").resources == {"limits": {"cpu": "4"}}

    refused = create(editor_api, endpointName="other", resources={"requests.cpu": "lots"})
    assert refused.status_code == 400
    assert "requests.cpu" in refused.json()["error"]["message"]


def test_a_request_above_the_default_limit_needs_a_limit(editor_api, tenant, settings):
    # Found on the real apiserver: LimitRanger gives a container without limits the tenant's
    # default limit and refuses the pod when the request is above it.
    settings.MODELPORT_DEFAULT_CPU_LIMIT = "1"
    refused = create(editor_api, resources={"requests": {"cpu": "2", "memory": "1Gi"}})
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "resources": {
            "requests.cpu": [
                "requests.cpu (2) exceeds the cpu limit a container gets when it names none (1); "
                "set limits.cpu too."
            ]
        }
    }
    with_limit = {"requests": {"cpu": "2"}, "limits": {"cpu": "2"}}
    assert create(editor_api, resources=with_limit).status_code == 201


def test_serving_and_subject_have_defaults(editor_api, tenant, settings):
    body = {k: v for k, v in BODY.items() if k not in ("servingName", "subjectName")}
    created = editor_api.post("/tenants/test/endpoints", body, format="json")
    assert created.status_code == 201, created.json()
    endpoint = Endpoint.objects.get(name="endpoint")
    assert endpoint.serving.name == settings.MODELPORT_DEFAULT_SERVING == "mlserver"
    assert endpoint.subject_name == "endpoint.test"
