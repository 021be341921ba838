"""pytest fixtures that start the real parts: PostgreSQL and Redis, S3 (versitygw), the
Kubernetes API emulator, a Celery worker process, an OpenID provider and headless Chromium.
Loaded with `-p testinfra.fixtures` (see pyproject.toml)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery.result import allow_join_result

from testinfra.databases import PostgresServer, RedisServer
from testinfra.identity import CLIENT_ID, CLIENT_SECRET, OidcProvider
from testinfra.kube_emulator import KubeEmulator
from testinfra.servers import stop_process, write_kubeconfig
from testinfra.versitygw import VersityGatewayServer, versitygw_binary

ROOT = Path(__file__).resolve().parent.parent

_session_servers = []


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """Before Django reads its settings: start this session's own PostgreSQL and Redis, unless
    DATABASE_URL / REDIS_URL name servers to use instead."""
    if {"--help", "-h", "--version", "-V"} & set(args):
        return
    for variable, server_class in (("DATABASE_URL", PostgresServer), ("REDIS_URL", RedisServer)):
        if not os.environ.get(variable):
            server = server_class().start()
            _session_servers.append(server)
            os.environ[variable] = server.url


def pytest_unconfigure(config):
    while _session_servers:
        _session_servers.pop().stop()


@pytest.fixture(scope="session")
def s3_server():
    if versitygw_binary() is None:
        pytest.fail("versitygw is not built: `make test` builds it (testinfra/build_versitygw.sh)")
    with VersityGatewayServer() as server:
        yield server


@pytest.fixture
def s3(s3_server, settings):
    """Object storage is a real S3 server (versitygw: signatures, expiry and signed headers
    checked) for this test; it starts with no bucket."""
    s3_server.reset()
    settings.MODELPORT_STORAGE = s3_server.storage_settings()
    from workers.storage import get_object_store

    return get_object_store()


# Every manifest a test sends is checked against this Kubernetes version's OpenAPI schema.
KUBERNETES_VERSION = "1.34.0"


def validate_manifest(body):
    """kubernetes-validate (strict: unknown fields are errors) for built-in kinds; custom
    resources such as KServe's have no schema there and pass through."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(body, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return None
    except kubernetes_validate.ValidationError as exc:
        return f"{exc.message} at {'.'.join(str(p) for p in exc.path)}"
    return None


@pytest.fixture(scope="session")
def kube_server(tmp_path_factory):
    emulator = KubeEmulator(validator=validate_manifest)
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
    assert not kube_server.invalid, f"manifests failed schema validation: {kube_server.invalid}"


@pytest.fixture(autouse=True)
def isolated_state(settings, tmp_path):
    """Local state (filesystem storage, runtime folders) lives in the test's own folder, and Celery
    runs tasks in the test process unless a test starts a real worker."""
    from portal.celery import app

    settings.DATA_DIR = tmp_path
    settings.MODELPORT_STORAGE = {"backend": "filesystem", "root": str(tmp_path / "storage")}
    _forget_gateway_counters(settings.REDIS_URL)
    app.conf.task_always_eager = True
    # Eager retries re-run the task only when errors don't propagate; tests call .get() on the
    # result to see a real failure.
    app.conf.task_eager_propagates = False
    # Celery guards .get() inside a task with a process-wide flag that eager tasks set and reset;
    # eager tasks in concurrent threads (the maxEndpoints race test) can leave it set. Each test
    # starts with it clear.
    with allow_join_result():
        yield
    app.conf.task_always_eager = False


@pytest.fixture
def fresh_gateway():
    """The gateway with no cached credentials or replicas and no pooled connections: each test's
    callers and model servers are its own (counters are emptied for every test, above)."""
    from portal.asgi import gateway

    gateway.reset()


def _forget_gateway_counters(redis_url):
    """The gateway's usage counters and plan windows (Redis, or this process) start empty: an
    earlier test's calls, or a row id reused by an earlier run, must not count here."""
    import redis

    from gateway.usage import MemoryUsage

    MemoryUsage.current = None
    if not redis_url:
        return
    with redis.Redis.from_url(redis_url) as client:
        stale = [*client.scan_iter("modelport:usage:*"), *client.scan_iter("modelport:rl:*")]
        if stale:
            client.delete(*stale)


def _database_url():
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    """`celery worker` in its own process, against the test database, broker, S3 and cluster."""

    def __init__(self, env, log_path, beat=False):
        self.env = env
        self.log_path = log_path
        self.beat = beat
        self.process = None

    def start(self, timeout=60):
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO"]
        command += ["--concurrency", "1", "--without-gossip", "--without-mingle"]
        if self.beat:
            command.append("--beat")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while b" ready." not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()  # a worker that never said it was ready must not outlive the test
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


@pytest.fixture(scope="session")
def control_plane():
    """The real Kubernetes control plane (testinfra/control_plane.py), for the tests marked
    `cluster`. No skipping: without its binaries every test that asks for it fails and says what
    to run."""
    from testinfra.control_plane import BUILD_SCRIPT, ControlPlane, missing_binaries

    missing = missing_binaries()
    if missing:
        pytest.fail(
            f"the Kubernetes control plane is not built ({', '.join(missing)} missing): "
            f"run {BUILD_SCRIPT}",
            pytrace=False,
        )
    with ControlPlane(nodes=1) as started:
        yield started


def wait_until(predicate, timeout=30, interval=0.2, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory):
    server = OidcProvider(tmp_path_factory.mktemp("oidc") / "provider.log").start()
    yield server
    server.stop()


@pytest.fixture
def oidc(oidc_server, settings):
    """Single sign-on is on for this test, against the test provider: no accounts yet, this
    portal's client registered for the test client's callbacks, nothing cached."""
    from identity.provider import forget_cached_documents

    settings.OIDC_ISSUER = oidc_server.issuer
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_CA_FILE = ""
    settings.OIDC_CLI_REDIRECT_URI = ""
    oidc_server.set_clients(
        ["http://testserver/oidc/callback/", "http://testserver/authenticate/callback"]
    )
    oidc_server.set_accounts({})
    forget_cached_documents()
    yield oidc_server
    forget_cached_documents()


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def page(monkeypatch):
    """A page in headless Chromium (the Debian package, never a downloaded build) driven by
    Playwright, started for this test alone: Playwright's sync API keeps an event loop running in
    this thread while it is up, and Django refuses ORM calls beside a running loop unless told that
    it is safe, which here it is (the loop only drives the browser)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does it)")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context()
        yield context.new_page()
        context.close()
        browser.close()
        # Connections the test opened while Playwright's loop ran belong to that loop's context;
        # close them here, or they outlive the test database.
        from django.db import connections

        connections.close_all()


@pytest.fixture
def sign_in(page, live_server, settings):
    """`sign_in(user)` gives the browser page a session of `user` on the live server (the
    session a password or single sign-on login would make); returns the page."""
    from django.test import Client

    def sign_in(user):
        client = Client()
        client.force_login(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
        )
        return page

    return sign_in


@pytest.fixture
def embedded_product(tmp_path):
    """Starts `make run`'s product (see testinfra/embedded.py): `embedded_product(demo=True)`
    also creates the admin and the demo, as `make run` does by default; keyword arguments are
    environment variables for the product."""
    from testinfra.embedded import EmbeddedProduct

    started = []

    def start(demo=False, **environment):
        started.append(EmbeddedProduct(tmp_path, demo=demo, **environment).start())
        return started[-1]

    yield start
    for product in started:
        product.stop()


@pytest.fixture(scope="module")
def gateway_url():
    """The portal's ASGI application (gateway included) served by uvicorn in this process."""
    import threading

    import uvicorn

    from portal.asgi import application, gateway
    from testinfra.servers import free_port

    gateway.reset()
    port = free_port()
    # No proxy in front: a caller's own X-Forwarded-For is not believed (uvicorn trusts it from
    # 127.0.0.1 by default, which is where the tests call from).
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, message="uvicorn to start")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
