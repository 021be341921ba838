"""The embedded demo: an iris classifier trained from the data set scikit-learn ships, in the
model runtime's own Python, where scikit-learn is installed; and tiny-chat, a 0.7 MB language
model made by tools/tiny_llm/make_model.py in llama-cpp-python's Python (no downloads)."""

import json
import subprocess
from pathlib import Path

from django.conf import settings

MAKE_TINY_LLM = Path(__file__).resolve().parent.parent / "tools" / "tiny_llm" / "make_model.py"
IRIS_SAMPLE = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]

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


def train_iris(path, rows=IRIS_SAMPLE):
    """Train, save to `path` with joblib, and return the model's own predictions for `rows`."""
    result = subprocess.run(  # noqa: S603 - our own runtime's Python and script
        [runtime_python(), "-c", _TRAIN_IRIS, str(path), json.dumps(rows)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(result.stdout)


def v2_request(rows):
    """An Open Inference Protocol (V2) request body for rows of four features."""
    tensor = {"name": "input-0", "shape": [len(rows), 4], "datatype": "FP64", "data": rows}
    return {"inputs": [tensor]}


def make_tiny_llm(path):
    """Write tiny-chat, a character bigram model in GGUF (deterministic, a few seconds), to
    `path`. It babbles character soup: it shows the plumbing, not answers."""
    subprocess.run(  # noqa: S603 - our own runtime's Python and script
        [settings.MODELPORT_LLAMA_PYTHON, str(MAKE_TINY_LLM), "--out", str(path)],
        capture_output=True,
        check=True,
        timeout=300,
    )
