"""`make run`'s supervisor: a child process that dies is started again, and only Ctrl-C stops the
product. The real command, with the embedded default's settings, in a data folder of its own."""

import os
import signal
import time
from pathlib import Path

import pytest

from testinfra.fixtures import wait_until

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
def embedded(embedded_product):
    product = embedded_product()
    return product.process, product.healthy, product.log_path


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
