"""`make run`'s supervisor: a child process that dies is started again, and only Ctrl-C stops the
product. The real command, with the embedded default's settings, in a data folder of its own."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from testinfra.fixtures import wait_until
from testinfra.servers import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def children_of(pid):
    """{pid: command line} of the processes whose parent is `pid`."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found[int(stat.parent.name)] = cmdline
    return found


def worker_pid(supervisor):
    return next(
        (pid for pid, cmd in children_of(supervisor.pid).items() if " celery " in f" {cmd}"), None
    )


@pytest.fixture
def embedded(tmp_path):
    environment = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")
    }
    environment.update(MODELPORT_DATA_DIR=str(tmp_path / "data"), LOG_LEVEL="WARNING")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT,
        env=environment,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    log = open(tmp_path / "runembedded.log", "wb")  # noqa: SIM115 - closed below
    supervisor = subprocess.Popen(
        [sys.executable, "manage.py", "runembedded", "--port", str(port)],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return requests.get(f"{url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(healthy, timeout=60, message="the web server")
    yield supervisor, healthy, tmp_path / "runembedded.log"
    stop_process(supervisor)
    log.close()


def test_a_killed_worker_is_started_again_and_the_rest_keeps_serving(embedded):
    supervisor, healthy, log = embedded
    first = wait_until(lambda: worker_pid(supervisor), timeout=60, message="the worker")
    os.killpg(first, signal.SIGKILL)

    time.sleep(1)
    assert healthy(), "the web server went down with the worker"
    assert supervisor.poll() is None
    second = wait_until(
        lambda: (pid := worker_pid(supervisor)) not in (None, first) and pid,
        timeout=30,
        message="the worker to start again",
    )
    assert second != first
    assert "The worker process stopped" in log.read_text()


def test_ctrl_c_stops_everything(embedded):
    supervisor, healthy, _ = embedded
    children = list(children_of(supervisor.pid))
    supervisor.send_signal(signal.SIGINT)
    assert supervisor.wait(timeout=60) == 0
    assert not healthy()
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)
