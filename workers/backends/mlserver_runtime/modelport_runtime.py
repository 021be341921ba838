"""Modelport's MLServer runtimes for the local orchestrator. Not imported by the portal: the local
runtime copies this file beside each served version's model-settings.json, where MLServer finds
it, and it runs in MLServer's own virtualenv.

They are MLServer's scikit-learn and LightGBM runtimes with two differences:
- a request the model can't take (a wrong shape or type) is the caller's mistake: a 400 with
  MLServer's JSON error body, `{"error": "..."}`, instead of a 500 (with a traceback in debug
  mode, which the runtime turns off);
- the model's metadata (`GET /v2/models/<name>`) names its input and output, read from the
  loaded model (how many features it takes), so clients and the portal's quickstart can build a
  request the model accepts.
"""

import numpy as np
from mlserver.errors import InferenceError
from mlserver.types import MetadataTensor
from mlserver_lightgbm import LightGBMModel as MLServerLightGBMModel
from mlserver_sklearn import SKLearnModel as MLServerSKLearnModel

# What a model raises for input it can't take (sklearn's and numpy's shape and type checks).
CALLER_MISTAKES = (ValueError, TypeError, IndexError, KeyError)


def _datatype(dtype):
    if np.issubdtype(dtype, np.integer):
        return "INT64"
    if np.issubdtype(dtype, np.floating):
        return "FP64"
    if np.issubdtype(dtype, np.bool_):
        return "BOOL"
    return "BYTES"


class _Described:
    """Fills the metadata's inputs and outputs, when model-settings.json gives none."""

    def _describe(self, features, output_datatype):
        settings = self._settings
        if features and not settings.inputs:
            settings.inputs = [
                MetadataTensor(name="input-0", datatype="FP64", shape=[-1, features])
            ]
        if not settings.outputs:
            # MLServer's NumPy codec answers one prediction per row as a column.
            settings.outputs = [
                MetadataTensor(name="predict", datatype=output_datatype, shape=[-1, 1])
            ]

    async def predict(self, payload):
        try:
            return await super().predict(payload)
        except CALLER_MISTAKES as exc:
            raise InferenceError(f"The model can't take this request: {exc}") from exc


class SKLearnModel(_Described, MLServerSKLearnModel):
    async def load(self):
        loaded = await super().load()
        model = self._model
        classes = getattr(model, "classes_", None)
        output = _datatype(np.asarray(classes).dtype) if classes is not None else "FP64"
        self._describe(getattr(model, "n_features_in_", None), output)
        return loaded


class LightGBMModel(_Described, MLServerLightGBMModel):
    async def load(self):
        loaded = await super().load()
        self._describe(self._model.num_feature(), "FP64")
        return loaded
