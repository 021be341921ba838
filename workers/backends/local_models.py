"""Which MLServer runtime serves a stored model version on this machine, decided from its files,
and what this machine's runtime can serve (its formats and library versions), for people.

The local orchestrator serves scikit-learn (joblib / pickle) and LightGBM models. Formats that
only a cluster template serves get a PermanentError whose message names the template to use.
"""

import functools
import importlib.metadata
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from workers.backends.local_runtime import ServedModel
from workers.errors import PermanentError

# MLServer's runtimes, as modelport_runtime.py (beside each model's settings) adjusts them.
SKLEARN = "modelport_runtime.SKLearnModel"
LIGHTGBM = "modelport_runtime.LightGBMModel"


@dataclass(frozen=True)
class Format:
    name: str
    files: str  # which files of a version are this format's model
    library: str  # the distribution that must load it (a pickle needs the same version)


FORMATS = (
    Format("scikit-learn", "one *.joblib, *.pkl or *.pickle file", "scikit-learn"),
    Format("LightGBM", "one *.bst or *.lgb file, or a *.txt file LightGBM saved", "lightgbm"),
)
# The runtime's distributions whose versions decide what loads.
LIBRARIES = ("mlserver", "scikit-learn", "lightgbm", "joblib", "numpy", "pandas")


@functools.cache
def runtime_libraries(mlserver):
    """{distribution: version} installed beside the `mlserver` command (in its virtualenv);
    None for one that is missing. Read once per process (it scans the virtualenv's metadata):
    a reinstalled runtime is seen after a restart, as the model servers themselves are."""
    site = [str(p) for p in Path(mlserver).parent.parent.glob("lib/python*/site-packages")]
    installed = {
        re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower(): dist.version
        for dist in importlib.metadata.distributions(path=site)
    }
    return {name: installed.get(name) for name in LIBRARIES}


def description(mlserver):
    """What the local runtime serves: its formats, each with its library's version."""
    libraries = runtime_libraries(mlserver)
    formats = [{**asdict(f), "version": libraries[f.library]} for f in FORMATS]
    return {"formats": formats, "libraries": dict(libraries)}


# (what the files look like, the sentence that says where such a model can run)
CLUSTER_ONLY = [
    (
        lambda names: "saved_model.pb" in names or "saved_model.pbtxt" in names,
        "a TensorFlow SavedModel: serve it with the tf-serving template on Kubernetes",
    ),
    (
        lambda names: (
            any(n.endswith(".xml") for n in names) and any(n.endswith(".bin") for n in names)
        ),
        "an OpenVINO IR model: serve it with the ovms template on Kubernetes",
    ),
    (
        lambda names: any(n.endswith(".onnx") for n in names),
        "an ONNX model: serve it with the ovms or kserve template on Kubernetes",
    ),
    (
        lambda names: any(n.endswith((".pt", ".pth", ".mar")) for n in names),
        "a PyTorch model: serve it with the kserve template on Kubernetes",
    ),
    (
        lambda names: any(n.endswith((".h5", ".keras")) for n in names),
        "a Keras model: serve it with the kserve template on Kubernetes",
    ),
]


def _is_lightgbm_text(path):
    with open(path, "rb") as handle:
        return handle.read(5) == b"tree\n"


def served_model(name, version, folder):
    """The ServedModel for `<folder>` (one model version's files), or PermanentError."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    names = {p.name for p in files}
    label = f"{name} version {version}"

    sklearn = [p for p in files if p.suffix in (".joblib", ".pkl", ".pickle")]
    lightgbm = [
        p
        for p in files
        if p.suffix in (".bst", ".lgb") or (p.suffix == ".txt" and _is_lightgbm_text(p))
    ]
    candidates = [(SKLEARN, p) for p in sklearn] + [(LIGHTGBM, p) for p in lightgbm]
    if len(candidates) == 1:
        implementation, path = candidates[0]
        return ServedModel(name, str(version), implementation, str(path))
    if len(candidates) > 1:
        listed = ", ".join(str(p.relative_to(folder)) for _, p in candidates)
        raise PermanentError(f"{label} has several model files ({listed}); keep exactly one.")
    for looks_like, advice in CLUSTER_ONLY:
        if looks_like(names):
            raise PermanentError(f"{label} is {advice}; the local runtime can't serve it.")
    if not files:
        raise PermanentError(f"{label} has no files.")
    expected = "; or ".join(f"{f.name}: {f.files}" for f in FORMATS)
    raise PermanentError(
        f"{label} has no model file the local runtime can serve. It serves {expected}."
    )
