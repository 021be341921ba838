"""Small real models for tests, trained in the model runtime's own Python (.venv-mlserver)."""

import json
import subprocess
from pathlib import Path

from django.conf import settings

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
SKLEARN = "mlserver_sklearn.SKLearnModel"

_TRAIN_IRIS = """
import joblib, json, sys
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=1000).fit(X, y)
joblib.dump(model, sys.argv[1])
print(json.dumps(model.predict(json.loads(sys.argv[2])).tolist()))
"""


def runtime_python():
    return str(Path(settings.MODELPORT_MLSERVER).with_name("python"))


def train_iris(path):
    """A scikit-learn classifier trained on the iris data set scikit-learn ships, saved at
    `path`; returns its own predictions for IRIS_ROWS."""
    result = subprocess.run(
        [runtime_python(), "-c", _TRAIN_IRIS, str(path), json.dumps(IRIS_ROWS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(result.stdout)


def v2_request(rows):
    """An Open Inference Protocol (V2) request body for rows of four features."""
    tensor = {"name": "input-0", "shape": [len(rows), 4], "datatype": "FP64", "data": rows}
    return {"inputs": [tensor]}
