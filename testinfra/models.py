"""Small real models for tests: the demo's iris classifier, trained in .venv-mlserver."""

from portal.demo import runtime_python, v2_request
from portal.demo import train_iris as _train_iris
from workers.backends.local_models import SKLEARN

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]

__all__ = ["IRIS_ROWS", "SKLEARN", "runtime_python", "train_iris", "v2_request"]


def train_iris(path):
    """Returns the model's own predictions for IRIS_ROWS."""
    return _train_iris(path, IRIS_ROWS)
