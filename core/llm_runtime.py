"""Where llama-cpp-python's OpenAI-compatible server, the local runtime for language models, is
installed by default: `tools/tiny_llm/build_server.sh` (`make llm-server`) builds it into a
virtualenv in the user's cache, keyed by the version requirements-llm.txt pins. The settings and
the test fixtures both read it from here."""

import re
from pathlib import Path

from core.machine_cache import cache_root

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements-llm.txt"


def pinned_version():
    """The llama-cpp-python version requirements-llm.txt pins."""
    found = re.search(r"^llama-cpp-python\[server\]==(\S+)$", REQUIREMENTS.read_text(), re.M)
    return found.group(1)


def default_llama_python():
    """The server virtualenv's python, where build_server.sh puts it."""
    return cache_root() / "llama-cpp-python" / pinned_version() / "bin" / "python"
