"""Which runtime serves a stored model version on this machine, decided from its files, and what
this machine's runtime can serve (its formats and library versions), for people.

The local orchestrator serves scikit-learn (joblib / pickle) and LightGBM models with MLServer,
and a GGUF language model with llama-cpp-python's OpenAI-compatible server. Formats that only a
cluster template serves get a PermanentError whose message names the template to use.
"""

import functools
import importlib.metadata
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from workers.backends.local_runtime import ServedModel
from workers.backends.model_servers import LLAMA_CPP
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
    Format(
        "GGUF language model",
        "one *.gguf file, served alone by its endpoint with the OpenAI API (/v1/...)",
        "llama-cpp-python",
    ),
)
# The runtime's distributions whose versions decide what loads: MLServer's, and the language
# models' server's.
LIBRARIES = ("mlserver", "scikit-learn", "lightgbm", "joblib", "numpy", "pandas")
LLM_LIBRARIES = ("llama-cpp-python",)


@functools.cache
def _installed_beside(executable, names):
    """{distribution: version} of `names` installed in the virtualenv of `executable` (a
    command in its bin/); None for one that is missing. Read once per process (it scans the
    virtualenv's metadata): a reinstalled runtime is seen after a restart, as the model servers
    themselves are."""
    site = [str(p) for p in Path(executable).parent.parent.glob("lib/python*/site-packages")]
    installed = {
        re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower(): dist.version
        for dist in importlib.metadata.distributions(path=site)
    }
    return {name: installed.get(name) for name in names}


def runtime_libraries(mlserver):
    """{distribution: version} installed beside the `mlserver` command."""
    return _installed_beside(str(mlserver), LIBRARIES)


def description(mlserver, llama_python):
    """What the local runtime serves: its formats, each with its library's version."""
    libraries = {
        **_installed_beside(str(mlserver), LIBRARIES),
        **_installed_beside(str(llama_python), LLM_LIBRARIES),
    }
    formats = [{**asdict(f), "version": libraries[f.library]} for f in FORMATS]
    return {"formats": formats, "libraries": libraries}


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
    gguf = [p for p in files if p.suffix == ".gguf"]
    candidates = (
        [(SKLEARN, p) for p in sklearn]
        + [(LIGHTGBM, p) for p in lightgbm]
        + [(LLAMA_CPP, p) for p in gguf]
    )
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


def check_one_server(models):
    """An endpoint's processes are one kind of model server: llama-cpp-python's serves one GGUF
    model and nothing else beside it; PermanentError when the policy selected more."""
    if len(models) > 1 and any(m.implementation == LLAMA_CPP for m in models):
        listed = ", ".join(
            f"{m.name} version {m.version}{' (GGUF)' if m.implementation == LLAMA_CPP else ''}"
            for m in models
        )
        raise PermanentError(
            f"An endpoint serves a GGUF language model alone, but this one's version policy "
            f"selects {listed}; choose a policy that selects one version, such as {{latest {{}}}}."
        )
