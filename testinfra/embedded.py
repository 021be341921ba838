"""`make run` for a test: the embedded default (SQLite, filesystem storage, the local
orchestrator, a Celery worker whose broker is a folder) in a data folder of its own, set up with
the same commands as the Makefile's `run` target and served by `manage.py runembedded`."""

import os
import subprocess
import sys
from pathlib import Path

import requests

from testinfra.fixtures import wait_until
from testinfra.servers import free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent

# What the test run itself is configured with, which `make run` never is.
TEST_ONLY = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")


class EmbeddedProduct:
    def __init__(self, folder, demo=False, **environment):
        self.folder = Path(folder)
        self.demo = demo
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.folder / "runembedded.log"
        self.environment = {k: v for k, v in os.environ.items() if k not in TEST_ONLY}
        self.environment.update(MODELPORT_DATA_DIR=str(self.data_dir), LOG_LEVEL="WARNING")
        self.environment.update(environment)
        self.process = None

    @property
    def data_dir(self):
        return self.folder / "data"

    def manage(self, *arguments, timeout=300):
        """`manage.py <arguments>` with the product's settings; its CompletedProcess."""
        return subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=ROOT,
            env=self.environment,
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self):
        self.manage("migrate", "--no-input")
        if self.demo:
            self.manage("bootstrap")
            self.manage("seed_demo")
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runembedded", "--port", str(self.port)],
            cwd=ROOT,
            env=self.environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self.healthy, timeout=60, message="the web server")
        return self

    def healthy(self):
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def output(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.process is not None:
            stop_process(self.process)
            self.log.close()
