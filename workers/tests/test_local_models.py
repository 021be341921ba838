"""Format detection for the local runtime, and a LightGBM model really served by MLServer."""

import json
import subprocess
import urllib.request

import pytest
from django.conf import settings

from testinfra.fixtures import wait_until
from testinfra.models import IRIS_ROWS, runtime_python, v2_request
from workers.backends.local_models import LIGHTGBM, SKLEARN, served_model
from workers.backends.local_runtime import LocalRuntime
from workers.errors import PermanentError


def write(folder, *names, content=b"x"):
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return folder


@pytest.mark.parametrize("name", ["model.joblib", "model.pkl", "sub/clf.pickle"])
def test_a_pickled_or_joblib_file_is_served_by_scikit_learn(tmp_path, name):
    model = served_model("iris", 3, write(tmp_path, name))
    assert (model.name, model.version, model.implementation) == ("iris", "3", SKLEARN)
    assert model.uri == str(tmp_path / name)


def test_a_lightgbm_text_model_is_recognised_by_its_first_line(tmp_path):
    write(tmp_path, "model.txt", content=b"tree\nversion=v4\n")
    assert served_model("m", 1, tmp_path).implementation == LIGHTGBM


def test_a_plain_text_file_is_not_taken_for_a_model(tmp_path):
    write(tmp_path, "README.txt", content=b"hello")
    with pytest.raises(
        PermanentError, match=r"no model file .* It serves scikit-learn: one \*\.joblib"
    ):
        served_model("m", 1, tmp_path)


@pytest.mark.parametrize(
    ("files", "template"),
    [
        (["saved_model.pb", "variables/variables.index"], "tf-serving"),
        (["model.xml", "model.bin"], "ovms"),
        (["model.onnx"], "ovms or kserve"),
        (["model.pt"], "kserve"),
    ],
)
def test_cluster_only_formats_name_the_template_to_use(tmp_path, files, template):
    with pytest.raises(
        PermanentError, match=f"serve it with the {template} template on Kubernetes"
    ):
        served_model("resnet", 1, write(tmp_path, *files))


def test_two_candidate_files_are_refused(tmp_path):
    with pytest.raises(PermanentError, match="several model files"):
        served_model("m", 1, write(tmp_path, "a.joblib", "b.pkl"))


def test_an_empty_version_is_refused(tmp_path):
    with pytest.raises(PermanentError, match="has no files"):
        served_model("m", 1, tmp_path)


_TRAIN_LIGHTGBM = """
import json, sys
import lightgbm as lgb
from sklearn.datasets import load_iris
X, y = load_iris(return_X_y=True)
booster = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1},
                    lgb.Dataset(X, y), num_boost_round=10)
booster.save_model(sys.argv[1])
print(json.dumps(booster.predict(json.loads(sys.argv[2])).tolist()))
"""


def test_a_lightgbm_model_is_served_with_its_own_predictions(tmp_path):
    folder = tmp_path / "version"
    folder.mkdir()
    expected = json.loads(
        subprocess.run(
            [
                runtime_python(),
                "-c",
                _TRAIN_LIGHTGBM,
                str(folder / "model.txt"),
                json.dumps(IRIS_ROWS),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
    )
    runtime = LocalRuntime(tmp_path / "runtime", settings.MODELPORT_MLSERVER)
    runtime.ensure("demo/flowers", [served_model("flowers", 1, folder)], replicas=1)
    try:
        urls = wait_until(lambda: runtime.ready_urls("demo/flowers"), timeout=60, message="ready")
        request = urllib.request.Request(
            f"{urls[0]}/v2/models/flowers/infer",
            data=json.dumps(v2_request(IRIS_ROWS)).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            output = json.loads(response.read())["outputs"][0]
        assert output["data"] == pytest.approx([v for row in expected for v in row])
    finally:
        runtime.stop("demo/flowers")
