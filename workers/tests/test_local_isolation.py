"""What a tenant's model server can see: the local runtime starts it with an environment of its
own, in a working directory of its own, with only its own model; as root, as a user of its own
that can read neither the data directory nor other tenants' models.

The first test runs real MLServer replicas. The others need a model server that another user
may execute, which a pyenv interpreter under /root is not: they run a small stand-in (a script
for Debian's Python, which every user may run) that answers MLServer's readiness check and
reports its user, directory, environment and what it could read."""

import json
import os
import shutil
import stat
import tempfile
import textwrap
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from testinfra.fixtures import wait_until
from testinfra.models import SKLEARN, train_iris
from workers.backends.local_runtime import FIRST_TENANT_UID, LocalRuntime, ServedModel

SECRETS = {
    "SECRET_KEY": "portal-secret-key-0123456789-0123456789",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "DATABASE_URL": "postgres://portal:password@127.0.0.1/modelport",
    "S3_SECRET_ACCESS_KEY": "storage-secret",
}

STAND_IN = textwrap.dedent(
    """\
    #!/usr/bin/python3
    # A stand-in for `mlserver`: --version, and `start <repository>` serving the readiness check
    # and /probe?path=...: whether this process may read that path.
    import http.server, json, os, sys, urllib.parse

    if sys.argv[1] == "--version":
        print("stand-in 1.0")
        sys.exit(0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/probe":
                wanted = urllib.parse.parse_qs(url.query).get("path", [])
                readable = {}
                for path in wanted:
                    try:
                        with open(path, "rb"):
                            readable[path] = True
                    except OSError:
                        readable[path] = False
                body = {"uid": os.getuid(), "cwd": os.getcwd(), "readable": readable}
            else:
                body = {}
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    port = int(os.environ["MLSERVER_HTTP_PORT"])
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


def environment_of(pid):
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def replica_pid(runtime, key):
    return json.loads((runtime.root / key / "replica-0.json").read_text())["pid"]


def test_a_model_server_gets_its_own_environment_folder_and_model(tmp_path, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    model = tmp_path / "storage" / "demo" / "iris" / "1" / "model.joblib"
    model.parent.mkdir(parents=True)
    train_iris(model)
    (model.parent / "notes.txt").write_text("not the model")
    runtime = LocalRuntime(tmp_path / "runtime", settings.MODELPORT_MLSERVER)
    runtime.ensure("demo/iris", [ServedModel("iris", "1", SKLEARN, str(model))], replicas=1)
    try:
        wait_until(lambda: runtime.supervise("demo/iris").running == 1, timeout=90)
        pid = replica_pid(runtime, "demo/iris")
        env = environment_of(pid)
        assert not set(SECRETS) & set(env)
        allowed = {"PATH", "LANG", "HOME", "PYTHONDONTWRITEBYTECODE"}
        assert set(env) - allowed <= {k for k in env if k.startswith("MLSERVER_")}
        home = runtime.root / "demo" / "iris" / "home"
        assert env["HOME"] == str(home)
        assert os.readlink(f"/proc/{pid}/cwd") == str(home)
        repository = runtime.root / "demo" / "iris" / "models"
        assert sorted(p.name for p in repository.rglob("*") if p.is_file()) == [
            "model-settings.json",
            "model.joblib",
            "modelport_runtime.py",  # our runtime for MLServer, not the tenant's code
        ]
    finally:
        runtime.stop("demo/iris")


@pytest.fixture
def shared_tmp():
    """A temporary folder other users may pass through (pytest's are private to root), as the
    folders above a real data directory are."""
    folder = Path(tempfile.mkdtemp(prefix="modelport-isolation-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def stand_in(shared_tmp):
    path = shared_tmp / "bin" / "mlserver"
    path.parent.mkdir()
    path.parent.chmod(0o755)
    path.write_text(STAND_IN)
    path.chmod(0o755)
    return path


def probe(runtime, key, *paths):
    url = runtime.ready_urls(key)[0] + "/probe?" + "&".join(f"path={p}" for p in paths)
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can run model servers as other users")
def test_as_root_each_tenants_model_servers_run_as_a_user_that_sees_only_its_own(
    shared_tmp, stand_in
):
    data = shared_tmp / "data"
    (data / "storage").mkdir(parents=True)
    secret_key = data / "secret_key"
    secret_key.write_text("portal-secret")
    database = data / "db.sqlite3"
    database.write_text("rows")
    models = {}
    for tenant in ("team-a", "team-b"):
        models[tenant] = data / "storage" / tenant / "m" / "1" / "model.joblib"
        models[tenant].parent.mkdir(parents=True)
        models[tenant].write_bytes(b"a model")
    runtime = LocalRuntime(data / "runtime", stand_in, private=data)
    try:
        for tenant in ("team-a", "team-b"):
            served = [ServedModel("m", "1", SKLEARN, str(models[tenant]))]
            runtime.ensure(f"{tenant}/m", served, replicas=1)
        for tenant in ("team-a", "team-b"):
            wait_until(lambda t=tenant: runtime.supervise(f"{t}/m").running == 1, timeout=30)

        own = runtime.root / "team-a" / "m" / "models" / "m-1" / "model.joblib"
        others = runtime.root / "team-b" / "m" / "models" / "m-1" / "model.joblib"
        seen = probe(runtime, "team-a/m", own, others, secret_key, database, models["team-a"])
        assert seen["uid"] >= FIRST_TENANT_UID
        assert seen["cwd"] == str(runtime.root / "team-a" / "m" / "home")
        assert seen["readable"] == {
            str(own): True,
            str(others): False,
            str(secret_key): False,
            str(database): False,
            str(models["team-a"]): False,  # the storage folder is the portal's alone
        }
        assert probe(runtime, "team-b/m")["uid"] != seen["uid"]
        assert stat.S_IMODE(data.stat().st_mode) == 0o711
    finally:
        runtime.stop("team-a/m")
        runtime.stop("team-b/m")
