"""The embedded default end to end, as a user would drive it: a tenant, a scikit-learn model
uploaded through the API, an endpoint, real MLServer processes, predictions through the gateway,
supervision, and clean removal. Tasks run in the test process (eager)."""

import os
import signal

import pytest
import requests
from django.core.management import call_command

from core.phase import Phase
from endpoints.models import Endpoint
from endpoints.tasks import sync_endpoint_status
from identity.models import PersonalAccessToken
from models_store.tests.conftest import upload_file
from testinfra.fixtures import wait_until
from testinfra.models import IRIS_ROWS, train_iris, v2_request
from workers.backends.local import LocalOrchestrator
from workers.backends.local_runtime import _alive

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {
    "endpointName": "iris",
    "modelName": "iris",
    "servingName": "mlserver",
    "subjectName": "client",
    "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}},
}


@pytest.fixture(autouse=True)
def no_model_server_outlives_its_test():
    """A test that leaves an endpoint running (a Failed one keeps serving what it loaded) must
    not leave its model server running after the suite."""
    yield
    LocalOrchestrator().runtime.stop_all()


@pytest.fixture
def member(make_user, admin_api, client_for):
    """Tenant `demo` (provisioned by the worker) and an editor of it."""
    call_command("seed_serving_templates")  # transactional tests start with empty tables
    response = admin_api.post("/tenants", {"name": "demo", "scope": "team"}, format="json")
    assert response.status_code == 201
    assert admin_api.get("/tenants/demo").json()["data"]["phase"] == Phase.READY
    user = make_user("bob", groups=["team"])
    return client_for(user), PersonalAccessToken.issue(user)[1]


def phase(name="iris"):
    sync_endpoint_status.apply().get()
    return Endpoint.objects.filter(name=name).values_list("phase", flat=True).first()


def predict(gateway_url, token):
    response = requests.post(
        f"{gateway_url}/gateway/demo/iris/v2/models/iris/infer",
        json=v2_request(IRIS_ROWS),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["outputs"][0]["data"]


def test_an_uploaded_model_is_served_supervised_and_removed(member, gateway_url, tmp_path):
    api, token = member
    model = tmp_path / "model.joblib"
    expected = train_iris(model)
    done = upload_file(api, "demo", "iris", 1, "model.joblib", [model.read_bytes()])
    assert done.status_code == 200, done.json()

    created = api.post("/tenants/demo/endpoints", BODY, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["data"]["warning"] == ""
    wait_until(lambda: phase() == Phase.READY, timeout=90, message="the endpoint to be Ready")
    detail = api.get("/tenants/demo/endpoints/iris").json()["data"]
    assert detail["endpoint status"] == {"running pods": 1, "pending pods": 0, "failed pods": 0}

    assert predict(gateway_url, token) == expected

    runtime = LocalOrchestrator().runtime
    pid = runtime._replicas("demo/iris")[0].pid
    os.killpg(pid, signal.SIGKILL)
    wait_until(
        lambda: phase() == Phase.READY and runtime._replicas("demo/iris")[0].pid != pid,
        timeout=90,
        message="the killed model server to come back",
    )
    assert predict(gateway_url, token) == expected

    scaled = api.patch("/tenants/demo/endpoints/iris/replicas", {"replicas": 2}, format="json")
    assert scaled.status_code == 200
    wait_until(lambda: len(runtime.ready_urls("demo/iris")) == 2, timeout=90, message="2 replicas")

    pids = [r.pid for r in runtime._replicas("demo/iris")]
    deleted = api.delete("/tenants/demo/endpoints", {"endpointName": "iris"}, format="json")
    assert deleted.status_code == 200
    assert not Endpoint.objects.exists()
    assert not any(_alive(p, "demo/iris") for p in pids)
    assert runtime.endpoint_keys() == []


def test_a_new_latest_version_is_picked_up_and_a_served_version_cant_be_deleted(member, tmp_path):
    api, _ = member
    model = tmp_path / "model.joblib"
    train_iris(model)
    upload_file(api, "demo", "iris", 1, "model.joblib", [model.read_bytes()])
    assert api.post("/tenants/demo/endpoints", BODY, format="json").status_code == 201
    runtime = LocalOrchestrator().runtime

    def served_versions():
        return [m["version"] for m in runtime.spec("demo/iris")]

    assert served_versions() == ["1"]
    upload_file(api, "demo", "iris", 2, "model.joblib", [model.read_bytes()])
    assert served_versions() == ["2"]

    refused = api.delete(
        "/tenants/demo/models", {"modelName": "iris", "modelVersion": 2}, format="json"
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "model_version_in_use"
    assert refused.json()["error"]["fields"] == {"endpoints": ["iris"]}
    # Version 1 is no longer served (latest is 2): it may go.
    allowed = api.delete(
        "/tenants/demo/models", {"modelName": "iris", "modelVersion": 1}, format="json"
    )
    assert allowed.status_code == 200
    runtime.stop("demo/iris")


def test_a_tensorflow_model_fails_with_the_template_to_use(member):
    api, _ = member
    upload_file(api, "demo", "resnet", 1, "saved_model.pb", [b"not really a graph"])
    body = {**BODY, "endpointName": "resnet", "modelName": "resnet", "servingName": "tf-serving"}
    assert api.post("/tenants/demo/endpoints", body, format="json").status_code == 201
    endpoint = Endpoint.objects.get(name="resnet")
    assert endpoint.phase == Phase.FAILED
    assert "TensorFlow SavedModel" in endpoint.message
    assert "tf-serving template on Kubernetes" in endpoint.message


def test_a_model_file_deleted_behind_the_platforms_back_is_reported_with_its_cause(
    member, gateway_url, settings, tmp_path
):
    """The replicas keep serving the file they were given (their own link to it), and as soon
    as the index sync sees the file gone, the endpoint says why, instead of crash-looping as
    "Provisioning"."""
    from models_store.tasks import sync_model_index
    from tenants.models import Tenant

    api, token = member
    model = tmp_path / "model.joblib"
    expected = train_iris(model)
    done = upload_file(api, "demo", "iris", 1, "model.joblib", [model.read_bytes()])
    assert done.status_code == 200
    assert api.post("/tenants/demo/endpoints", BODY, format="json").status_code == 201
    wait_until(lambda: phase() == Phase.READY, timeout=90, message="the endpoint to be Ready")

    (settings.DATA_DIR / "storage" / "demo" / "iris" / "1" / "model.joblib").unlink()
    assert predict(gateway_url, token) == expected  # what it loaded, it still serves

    sync_model_index.apply(kwargs={"tenant_pk": Tenant.objects.get(name="demo").pk}).get()
    endpoint = Endpoint.objects.get(name="iris")
    assert endpoint.phase == Phase.FAILED
    assert "iris has no ready version" in endpoint.message
