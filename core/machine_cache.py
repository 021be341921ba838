"""Where things built once per machine live (llama-cpp-python's server, versitygw, the control
plane): outside the checkout, so every clone and every run reuses them."""

import os
from pathlib import Path


def cache_root():
    """$MODELPORT_CACHE, else `modelport` in $XDG_CACHE_HOME or ~/.cache (as the build scripts)."""
    if os.environ.get("MODELPORT_CACHE"):
        return Path(os.environ["MODELPORT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "modelport"
