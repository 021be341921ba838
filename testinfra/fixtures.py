"""pytest fixtures that start the real parts: S3 (moto's server), the Kubernetes API emulator and
a Celery worker process. Loaded with `-p testinfra.fixtures` (see pyproject.toml)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testinfra.kube_emulator import KubeEmulator
from testinfra.servers import MotoS3Server, stop_process, write_kubeconfig

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def s3_server():
    server = MotoS3Server().start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, settings):
    """Object storage is S3 (moto over HTTP) for this test; the server starts empty."""
    s3_server.reset()
    settings.MODELPORT_STORAGE = s3_server.storage_settings()
    from models_store.storage import get_object_store

    return get_object_store()


@pytest.fixture(scope="session")
def kube_server(tmp_path_factory):
    emulator = KubeEmulator()
    emulator.start()
    kubeconfig = write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig", emulator.url)
    emulator.kubeconfig = str(kubeconfig)
    yield emulator
    emulator.stop()


@pytest.fixture
def kube(kube_server, settings):
    """The orchestrator is Kubernetes, served by the emulator, empty at the start of the test."""
    from workers.backends.kube import reset_kube_client

    kube_server.reset()
    settings.MODELPORT_ORCHESTRATOR = "kubernetes"
    settings.KUBECONFIG = kube_server.kubeconfig
    reset_kube_client()
    yield kube_server
    reset_kube_client()


@pytest.fixture(autouse=True)
def isolated_state(settings, tmp_path):
    """Local state (filesystem storage, runtime folders) lives in the test's own folder, and Celery
    runs tasks in the test process unless a test starts a real worker."""
    from portal.celery import app

    settings.DATA_DIR = tmp_path
    settings.MODELPORT_STORAGE = {"backend": "filesystem", "root": str(tmp_path / "storage")}
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


def _database_url():
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    """`celery worker` in its own process, against the test database, broker, S3 and cluster."""

    def __init__(self, env, log_path):
        self.env = env
        self.log_path = log_path
        self.process = None

    def start(self, timeout=60):
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while b" ready." not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{self.output()}")
            time.sleep(0.2)
        return self

    def output(self):
        return self.log_path.read_text(errors="replace")

    def kill(self):
        """SIGKILL the worker and its pool at once: no chance to finish or acknowledge anything."""
        os.killpg(self.process.pid, 9)
        self.process.wait()
        self.log.close()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)
        self.log.close()


@pytest.fixture
def worker_env(transactional_db, settings, s3_server, s3, kube, tmp_path):
    from portal.celery import app

    app.conf.task_always_eager = False
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL must be set for tests with a real worker (make test sets it)")
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MODELPORT_ORCHESTRATOR": "kubernetes",
        "KUBECONFIG": kube.kubeconfig,
        "MODELPORT_DATA_DIR": str(tmp_path / "worker"),
        **s3_server.environment(),
    }
    return env


@pytest.fixture
def celery_worker(worker_env, tmp_path):
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    yield worker
    worker.stop()


def wait_until(predicate, timeout=30, interval=0.2, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
