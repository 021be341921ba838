"""Open Inference Protocol clients nobody here wrote, through the gateway and straight to the
replica, expecting the same: tritonclient (HTTP), the KServe SDK's REST client and a bare
`requests.post(data=...)`. A real
MLServer replica of the demo's iris model behind a real uvicorn server."""

import asyncio
import json

import numpy as np
import pytest
import requests
import tritonclient.http as triton
from django.urls import reverse
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from tritonclient.utils import InferenceServerException

from gateway.tests.test_gateway import demo, model_servers  # noqa: F401 - fixtures
from testinfra.models import IRIS_ROWS, v2_request
from workers.backends.local import LocalOrchestrator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_gateway")]


@pytest.fixture(params=["straight to the replica", "through the gateway"])
def route(request, gateway_url, demo):  # noqa: F811 - the fixture imported above
    """(client base, headers) for one way to the model server."""
    if request.param == "through the gateway":
        base = f"{gateway_url.removeprefix('http://')}/gateway/demo/iris"
        return base, {"Authorization": f"Bearer {demo['bob']}"}
    replica = LocalOrchestrator().runtime.ready_urls("demo/iris")[0]
    return replica.removeprefix("http://"), {}


@pytest.fixture
def client(route):
    base, headers = route
    client = triton.InferenceServerClient(url=base, connection_timeout=30, network_timeout=30)
    yield client, headers
    client.close()


def infer(client, headers, rows, datatype):
    """JSON tensors: MLServer does not speak Triton's binary tensor extension (tritonclient's
    default), straight or through the gateway alike."""
    numpy_type = {"FP32": np.float32, "FP64": np.float64}[datatype]
    data = np.array(rows, dtype=numpy_type)
    tensor = triton.InferInput("input-0", list(data.shape), datatype)
    tensor.set_data_from_numpy(data, binary_data=False)
    wanted = [triton.InferRequestedOutput("predict", binary_data=False)]
    result = client.infer("iris", [tensor], outputs=wanted, headers=headers)
    return result.as_numpy("predict").ravel().tolist()


def test_health_and_readiness(client):
    client, headers = client
    assert client.is_server_live(headers=headers)
    assert client.is_server_ready(headers=headers)
    assert client.is_model_ready("iris", headers=headers)


def test_metadata_names_the_models_input_and_output(client):
    client, headers = client
    metadata = client.get_model_metadata("iris", headers=headers)
    assert metadata["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    # MLServer answers one prediction per row as a column: shape [rows, 1].
    assert metadata["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1, 1]}]


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_inference_gives_the_models_predictions(client, demo, datatype):  # noqa: F811
    client, headers = client
    assert infer(client, headers, IRIS_ROWS, datatype) == demo["expected"]


def test_a_wrong_shape_is_the_callers_mistake_in_json(client):
    client, headers = client
    with pytest.raises(InferenceServerException) as refused:
        infer(client, headers, [[1.0, 2.0, 3.0]], "FP64")
    assert refused.value.status() == "400"
    assert "can't take this request" in refused.value.message()
    assert "Traceback" not in refused.value.message()


def test_a_json_body_without_a_content_type_is_read_as_json(route, demo):  # noqa: F811
    base, headers = route
    response = requests.post(
        f"http://{base}/v2/models/iris/infer",
        data=json.dumps(v2_request(IRIS_ROWS)),
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == demo["expected"]


def test_the_quickstart_is_built_from_what_the_running_model_describes(demo, browser_for):  # noqa: F811
    from django.contrib.auth.models import User

    page = browser_for(User.objects.get(username="bob")).get(
        reverse("ui:endpoint", args=["demo", "iris"])
    )
    html = page.content.decode().replace("&quot;", '"')
    assert "shaped as the running model describes them" in html
    assert '"shape": [1, 4], "datatype": "FP64", "data": [0.0, 0.0, 0.0, 0.0]' in html


def test_a_sample_request_follows_any_models_metadata():
    from ui.views.endpoints import sample_from_metadata

    metadata = {"inputs": [{"name": "pixels", "datatype": "INT64", "shape": [-1, 3]}]}
    assert sample_from_metadata(metadata) == {
        "inputs": [{"name": "pixels", "shape": [1, 3], "datatype": "INT64", "data": [0, 0, 0]}]
    }
    assert sample_from_metadata({"inputs": []}) is None
    assert sample_from_metadata(None) is None


def kserve_call(base, headers, rows):
    """Readiness and inference with the KServe SDK's REST client (V2, JSON tensors)."""

    async def call():
        config = RESTConfig(protocol="v2", timeout=30)
        async with InferenceRESTClient(config) as client:
            ready = await client.is_model_ready(base, "iris", headers=headers)
            tensor = InferInput("input-0", [len(rows), 4], "FP64", data=rows)
            request = InferRequest(model_name="iris", infer_inputs=[tensor])
            response = await client.infer(base, request, model_name="iris", headers=headers)
            return ready, np.asarray(response.outputs[0].data).ravel().tolist()

    return asyncio.run(call())


def test_the_kserve_sdks_rest_client_gets_the_models_predictions(route, demo):  # noqa: F811
    base, headers = route
    ready, predictions = kserve_call(f"http://{base}", headers, IRIS_ROWS)
    assert ready
    assert predictions == demo["expected"]
