"""The local runtime with real MLServer processes: predictions, supervision, no orphans."""

import json
import os
import signal
import urllib.request

import pytest
from django.conf import settings

from testinfra.fixtures import wait_until
from testinfra.models import IRIS_ROWS, SKLEARN, train_iris, v2_request
from workers.backends.local_runtime import MAX_RESTARTS, LocalRuntime, ServedModel, _alive


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    path = tmp_path_factory.mktemp("iris") / "model.joblib"
    return path, train_iris(path)


@pytest.fixture
def runtime(tmp_path):
    runtime = LocalRuntime(tmp_path / "runtime", settings.MODELPORT_MLSERVER)
    yield runtime
    for key in runtime.endpoint_keys():
        runtime.stop(key)


def infer(url, rows, model="iris"):
    request = urllib.request.Request(
        f"{url}/v2/models/{model}/infer",
        data=json.dumps(v2_request(rows)).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["outputs"][0]["data"]


def running(runtime, key, count):
    def check():
        status = runtime.supervise(key)
        return status if status.running == count else None

    return wait_until(check, timeout=60, interval=0.3, message=f"{count} running replicas")


def test_replicas_serve_the_models_own_predictions(runtime, iris):
    path, expected = iris
    runtime.ensure("demo/iris", [ServedModel("iris", "1", SKLEARN, str(path))], replicas=2)
    status = running(runtime, "demo/iris", 2)
    assert status.pending == status.failed == 0
    assert len(set(status.urls)) == 2
    for url in status.urls:
        assert infer(url, IRIS_ROWS) == expected


def test_a_killed_model_server_comes_back(runtime, iris):
    path, expected = iris
    runtime.ensure("demo/iris", [ServedModel("iris", "1", SKLEARN, str(path))], replicas=1)
    running(runtime, "demo/iris", 1)
    pid = runtime._replicas("demo/iris")[0].pid
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not _alive(pid, "demo/iris"), message="the process to die")
    assert runtime.supervise("demo/iris").running == 0
    second = running(runtime, "demo/iris", 1)
    assert runtime._replicas("demo/iris")[0].pid != pid
    assert infer(second.urls[0], IRIS_ROWS) == expected


def test_scaling_to_zero_stops_every_process(runtime, iris):
    path, _ = iris
    runtime.ensure("demo/iris", [ServedModel("iris", "1", SKLEARN, str(path))], replicas=2)
    running(runtime, "demo/iris", 2)
    pids = [r.pid for r in runtime._replicas("demo/iris")]
    runtime.ensure("demo/iris", [ServedModel("iris", "1", SKLEARN, str(path))], replicas=0)
    assert not any(_alive(pid, "demo/iris") for pid in pids)
    assert runtime.supervise("demo/iris").running == 0


def test_stopping_an_endpoint_leaves_no_process(runtime, iris):
    path, _ = iris
    runtime.ensure("demo/iris", [ServedModel("iris", "1", SKLEARN, str(path))], replicas=2)
    running(runtime, "demo/iris", 2)
    pids = [r.pid for r in runtime._replicas("demo/iris")]
    runtime.stop("demo/iris")
    assert not any(_alive(pid, "demo/iris") for pid in pids)
    assert runtime.endpoint_keys() == []


def test_a_new_spec_restarts_the_replicas(runtime, iris, tmp_path):
    path, expected = iris
    runtime.ensure("demo/iris", [ServedModel("iris", "1", SKLEARN, str(path))], replicas=1)
    running(runtime, "demo/iris", 1)
    old_pid = runtime._replicas("demo/iris")[0].pid
    runtime.ensure("demo/iris", [ServedModel("iris", "2", SKLEARN, str(path))], replicas=1)
    assert not _alive(old_pid, "demo/iris")
    status = running(runtime, "demo/iris", 1)
    assert infer(status.urls[0], IRIS_ROWS) == expected


def test_ensure_twice_starts_nothing_new(runtime, iris):
    path, _ = iris
    models = [ServedModel("iris", "1", SKLEARN, str(path))]
    runtime.ensure("demo/iris", models, replicas=1)
    pid = runtime._replicas("demo/iris")[0].pid
    runtime.ensure("demo/iris", models, replicas=1)
    assert runtime._replicas("demo/iris")[0].pid == pid


def test_a_crash_loop_gives_up_with_the_logs_last_lines(runtime, tmp_path, monkeypatch):
    import workers.backends.local_runtime as local_runtime

    monkeypatch.setattr(local_runtime, "RESTART_BACKOFF_CAP_SECONDS", 0)
    broken = tmp_path / "broken.joblib"
    broken.write_bytes(b"this is not a model")
    runtime.ensure("demo/broken", [ServedModel("broken", "1", SKLEARN, str(broken))], replicas=1)

    def given_up():
        status = runtime.supervise("demo/broken")
        return status if "not started again" in status.message else None

    status = wait_until(given_up, timeout=120, interval=0.5, message="the replica to be given up")
    assert f"crashed {MAX_RESTARTS + 1} times" in status.message
    # the loader's own complaint about the file, not the shutdown noise after it
    assert "failed to load" in status.message
    assert not any(_alive(r.pid, "demo/broken") for r in runtime._replicas("demo/broken"))


def test_a_model_that_cant_load_is_reported_at_its_first_crash(runtime, tmp_path):
    """Not after five crashes and minutes of "Provisioning": the first one says why."""
    broken = tmp_path / "broken.joblib"
    broken.write_bytes(b"this is not a model")
    runtime.ensure("demo/broken", [ServedModel("broken", "1", SKLEARN, str(broken))], replicas=1)

    def explained():
        # On a loaded machine the first look may come before the log is read complete; the
        # explanation must come while the replica is still at its first crash.
        status = runtime.supervise("demo/broken")
        return status if status.failed == 1 and "failed to load" in status.message else None

    status = wait_until(explained, timeout=60, interval=0.5, message="the first crash's reason")
    assert "crashed once; it starts again in" in status.message
    assert runtime._replicas("demo/broken")[0].crashes == 1


def test_stop_all_leaves_no_orphan_and_ensure_brings_them_back(runtime, iris):
    path, expected = iris
    models = [ServedModel("iris", "1", SKLEARN, str(path))]
    runtime.ensure("demo/iris", models, replicas=1)
    running(runtime, "demo/iris", 1)
    pid = runtime._replicas("demo/iris")[0].pid
    runtime.stop_all()
    assert not _alive(pid, "demo/iris")
    assert runtime.endpoint_keys() == ["demo/iris"]
    # The next supervision restarts it, and a stop on purpose is not a crash.
    status = running(runtime, "demo/iris", 1)
    assert runtime._replicas("demo/iris")[0].crashes == 0
    assert infer(status.urls[0], IRIS_ROWS) == expected


def test_a_replica_slow_to_answer_its_readiness_check_still_counts_as_ready():
    """A model server on a busy machine answers its health check late, not never."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from workers.backends.local_runtime import Replica, _ready

    class SlowHealth(BaseHTTPRequestHandler):
        def do_GET(self):
            threading.Event().wait(1.5)
            self.send_response(200 if self.path == "/v2/health/ready" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowHealth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert _ready(Replica(index=0, http_port=server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()


def test_a_grpc_server_on_a_replicas_http_port_is_not_ready():
    """Seen in CI: a gRPC server on the port a replica's HTTP was given answers the readiness
    check with HTTP/2 frames, which failed the whole status task instead of one check."""
    from concurrent import futures

    import grpc

    from workers.backends.local_runtime import Replica, _ready

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        assert not _ready(Replica(index=0, http_port=port))
    finally:
        server.stop(grace=None)


def test_a_replica_gets_different_ports_for_each_of_its_servers():
    from workers.backends.local_runtime import Replica
    from workers.backends.model_servers import MLServer

    for _ in range(200):
        replica = Replica(index=0)
        MLServer("mlserver").assign_ports(replica)
        assert len({replica.http_port, replica.grpc_port, replica.metrics_port}) == 3
