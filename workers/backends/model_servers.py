"""The kinds of model server the local runtime runs, and how each is started: its model folder,
ports, command line, environment and readiness check. The served models pick one (see
LocalRuntime._server); the runtime supervises them all the same way."""

import json
import shutil
import socket
from contextlib import ExitStack
from pathlib import Path

# The implementation of a GGUF language model: llama-cpp-python's server, not an MLServer runtime.
LLAMA_CPP = "llama_cpp.server"
# Modelport's runtimes for MLServer (JSON errors for the caller's mistakes, metadata from the
# model), copied beside each model's settings, where MLServer imports it from.
RUNTIME_MODULE = Path(__file__).parent / "mlserver_runtime" / "modelport_runtime.py"


def _free_ports(count):
    """`count` different free loopback ports. The sockets stay bound until all are chosen: one
    closed first could be handed out again (a server given the same port for HTTP and gRPC
    answered HTTP probes with HTTP/2 frames)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


class MLServer:
    """`mlserver start <repository>`: every served version is a folder holding its file, its
    `model-settings.json` and Modelport's runtime module."""

    ready_path = "/v2/health/ready"

    def __init__(self, executable):
        self.executable = str(executable)

    def prepare(self, target, model):
        """Beside the version's file in `target`: what MLServer needs to load it."""
        settings = {
            "name": model.name,
            "implementation": model.implementation,
            "parameters": {"uri": str(target / Path(model.uri).name), "version": model.version},
        }
        (target / "model-settings.json").write_text(json.dumps(settings, indent=2))
        shutil.copy(RUNTIME_MODULE, target / RUNTIME_MODULE.name)

    def assign_ports(self, replica):
        replica.http_port, replica.grpc_port, replica.metrics_port = _free_ports(3)

    def command(self, folder, key, spec, replica):
        return [self.executable, "start", str(folder / "models")]

    def environment(self, replica):
        return {
            "MLSERVER_HOST": "127.0.0.1",
            "MLSERVER_HTTP_PORT": str(replica.http_port),
            "MLSERVER_GRPC_PORT": str(replica.grpc_port),
            "MLSERVER_METRICS_PORT": str(replica.metrics_port),
            # One process per replica: MLServer's own worker pool would hide crashes from us.
            "MLSERVER_PARALLEL_WORKERS": "0",
            # Debug mode answers an error with a Python traceback holding server paths.
            "MLSERVER_DEBUG": "false",
            "MLSERVER_LOAD_MODELS_AT_STARTUP": "true",
        }


# The context window a language model is served with: llama-cpp-python's own default, which
# bounds the memory a model trained for a longer one takes (a shorter one is only warned about).
LLAMA_CONTEXT_TOKENS = 2048


class LlamaServer:
    """`<python> -m llama_cpp.server`: the OpenAI-compatible API (`/v1/...`) for the endpoint's
    one GGUF model, named after the endpoint (the name the gateway's /v1/ surface sends)."""

    ready_path = "/v1/models"

    def __init__(self, executable):
        self.executable = str(executable)

    def prepare(self, target, model):
        """Nothing: the server is given the file itself."""

    def assign_ports(self, replica):
        [replica.http_port] = _free_ports(1)

    def command(self, folder, key, spec, replica):
        [model] = spec
        path = folder / "models" / f"{model['name']}-{model['version']}" / Path(model["uri"]).name
        return [
            self.executable,
            "-m",
            LLAMA_CPP,
            "--model",
            str(path),
            "--model_alias",
            key.split("/", 1)[1],
            "--host",
            "127.0.0.1",
            "--port",
            str(replica.http_port),
            "--n_ctx",
            str(LLAMA_CONTEXT_TOKENS),
            # /v1/embeddings answers 500 without it.
            "--embedding",
            "true",
            # The server answers one call at a time; by default a call that waits interrupts
            # the answer being streamed (concurrent callers get a token or two each).
            "--interrupt_requests",
            "false",
        ]

    def environment(self, replica):
        return {}
