"""The helm CLI for the chart tests: the one testinfra/build_helm.sh builds into the user's cache.
No skipping: without it every chart test fails and says what to run."""

import os
import subprocess
from pathlib import Path

import pytest

# The real-cluster tests' fixtures: the admin client, the product pointed at the control plane, a
# tenant row in a fresh namespace, and retries that wait their countdown.
from workers.tests.test_real_cluster import (  # noqa: F401 - fixtures
    admin,
    cluster,
    tenant,
    tenant_name,
    worker_countdown,
)

HELM_VERSION = os.environ.get("HELM_VERSION", "v4.3.2")
BUILD_SCRIPT = "testinfra/build_helm.sh"


def helm_binary():
    cache = os.environ.get("MODELPORT_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "modelport"
    )
    return Path(cache, "helm", HELM_VERSION, "helm")


class HelmError(AssertionError):
    def __init__(self, args, result):
        super().__init__(
            f"helm {' '.join(args)} exited with {result.returncode}:\n"
            f"{result.stdout[-4000:]}{result.stderr[-4000:]}"
        )
        self.stdout, self.stderr = result.stdout, result.stderr


@pytest.fixture(scope="session")
def helm(tmp_path_factory):
    """helm(*args) runs the CLI and returns its output; HelmError when it exits non-zero,
    TimeoutExpired after `timeout` seconds. Its configuration, cache and data folders are
    temporary (no repositories, no plugins)."""
    binary = helm_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"helm {HELM_VERSION} is not built ({binary} is missing): run {BUILD_SCRIPT}")
    home = tmp_path_factory.mktemp("helm")
    env = {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
    }

    def run(*args, timeout=60):
        result = subprocess.run(
            [str(binary), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise HelmError(args, result)
        return result.stdout

    return run
