"""What the gateway benchmarks share: the portal under uvicorn, a git revision in a worktree of its
own, and a description of the machine the figures were measured on."""

import os
import platform
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UVICORN = (sys.executable, "-m", "uvicorn")


def django_on_postgres(workdir, **env):
    """Django set up for a benchmark that measures production: PostgreSQL from DATABASE_URL, else
    a throw-away server (returned, for the caller to stop; None otherwise), the Kubernetes
    orchestrator, state in `workdir`, quiet logs, then `env`. Exits when the database is not
    PostgreSQL."""
    from testinfra.databases import PostgresServer

    database = None
    if not os.environ.get("DATABASE_URL"):
        database = PostgresServer().start()
        os.environ["DATABASE_URL"] = database.url
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        MODELPORT_ORCHESTRATOR="kubernetes",
        MODELPORT_DATA_DIR=str(workdir),
        MODELPORT_DOMAIN="bench.example.com",
        LOG_LEVEL="WARNING",
        **env,
    )
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server: the benchmark measures production.")
    return database


def embedded_portal(prefix):
    """A fresh embedded portal for a benchmark in a temporary data folder (SQLite, filesystem
    storage, no Redis, the local orchestrator), set up in this process and migrated: returns
    the folder and the environment the portal's own processes get."""
    import tempfile

    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    env = {
        **os.environ,
        "MODELPORT_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "S3_ENDPOINT_URL", "MODELPORT_ORCHESTRATOR"):
        env.pop(name, None)
    os.environ.update(env)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return data_dir, env


def wait_for(url, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


def checkout(revision, folder):
    """The code of `revision` in a worktree of its own."""
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return folder


def remove_checkout(folder):
    subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=False)


def serve_portal(source, port, env, server=UVICORN):
    """The portal (and so the gateway) from `source` under uvicorn, once it answers. `server` is
    the command that takes uvicorn's arguments (uvicorn itself, or a wrapper around it)."""
    # Its log lines (one per call at LOG_LEVEL=INFO, as in production) go to a file, as they
    # would to a log collector, not to this terminal.
    log = open(Path(env["MODELPORT_DATA_DIR"]) / f"portal-{port}.log", "ab")  # noqa: SIM115
    portal = subprocess.Popen(
        [
            *server,
            "portal.asgi:application",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=source,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
    except BaseException:
        portal.terminate()
        portal.wait()
        raise
    return portal


def machine():
    """One line: the cores and CPU model the figures were measured on, and the Python."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}; Python {platform.python_version()}"
