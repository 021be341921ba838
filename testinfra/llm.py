"""A real OpenAI-compatible language model server for the tests: llama-cpp-python's server on a
CPU, serving the tiny model `tools/tiny_llm/make_model.py` makes on this machine (no downloads).

`tools/tiny_llm/build_server.sh` builds the server's virtualenv into the user's cache, keyed by
version (MODELPORT_LLAMA_PYTHON, the local runtime's setting, says where it is); the model is
made in the cache too, once (a few seconds).
"""

import subprocess
from pathlib import Path

from django.conf import settings

from core.machine_cache import cache_root
from testinfra.servers import free_port, stop_process, wait_for_http

# Bump when make_model.py changes what it writes.
TINY_MODEL_VERSION = "1"
ROOT = Path(__file__).resolve().parent.parent
MAKE_MODEL = ROOT / "tools" / "tiny_llm" / "make_model.py"


def llm_python():
    """The server virtualenv's python (MODELPORT_LLAMA_PYTHON), or None when it is not built."""
    path = Path(settings.MODELPORT_LLAMA_PYTHON)
    return path if path.exists() else None


def require_llm_python():
    python = llm_python()
    if python is None:
        raise RuntimeError(
            "llama-cpp-python's server is not built: `make test` builds it "
            "(tools/tiny_llm/build_server.sh)"
        )
    return python


def tiny_model():
    """The tiny GGUF model, made on first use (deterministic: the same bytes on every machine)."""
    path = cache_root() / "tiny-llm" / TINY_MODEL_VERSION / "tiny-chat.gguf"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        subprocess.run(
            [str(require_llm_python()), str(MAKE_MODEL), "--out", str(partial)],
            check=True,
            capture_output=True,
        )
        partial.replace(path)
    return path


class LlamaServer:
    """llama-cpp-python's OpenAI-compatible server in its own process on a free loopback port."""

    def __init__(self, model=None, alias="tiny-chat", log_path=None):
        self.python = require_llm_python()
        self.model = Path(model or tiny_model())
        self.alias = alias
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process = None

    def start(self):
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [
                    str(self.python),
                    "-m",
                    "llama_cpp.server",
                    "--model",
                    str(self.model),
                    "--model_alias",
                    self.alias,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--n_ctx",
                    "256",
                    "--embedding",
                    "true",
                    # As the local runtime runs it: a waiting call does not cut the answer short.
                    "--interrupt_requests",
                    "false",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if self.log_path:
                log.close()
        try:
            wait_for_http(f"{self.url}/v1/models", process=self.process, timeout=120)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
