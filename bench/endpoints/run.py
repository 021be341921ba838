"""Endpoint benchmark: 1,000 endpoints over 10 tenants against the Kubernetes API emulator.

    make bench-endpoints

It starts a throw-away PostgreSQL (or, with DATABASE_URL set, creates `test_<name>` on that server
and drops it at the end), starts the emulator on 127.0.0.1 in a process of its own, and prints:
- reconcile throughput: endpoints per second from the API call (POST /tenants/<t>/endpoints) to
  applied objects (the reconcile task runs in-process, as an eager Celery task);
- API calls per status cycle (`sync_endpoint_status`) and its duration;
- GET /tenants/<t>/endpoints latency for a tenant with 1,000 endpoints (target p50 ≤ 50 ms) and
  the number of SQL queries per request at page sizes 100 and 1,000 (target: the same).
The emulator runs without schema validation (the tests validate every template's output), so
the figures measure Modelport, not kubernetes-validate.
"""

import argparse
import statistics
import sys
import tempfile
import time
from multiprocessing.managers import BaseManager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import django_on_postgres  # noqa: E402
from testinfra.kube_emulator import KubeEmulator  # noqa: E402
from testinfra.servers import write_kubeconfig  # noqa: E402


class EmulatorProcess(KubeEmulator):
    """The emulator, run in its own process (see main) so that it does not share this process's
    interpreter lock: the figures are Modelport's time, not the emulator's."""

    def start(self):
        super().start()  # not returned: the emulator itself can't travel between processes

    def address(self):
        return self.url

    def request_count(self):
        return len(self.requests)


class EmulatorManager(BaseManager):
    pass


EmulatorManager.register(
    "Emulator",
    EmulatorProcess,
    exposed=("start", "stop", "address", "request_count", "put_object", "objects"),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--per-tenant", type=int, default=100)
    parser.add_argument("--list-size", type=int, default=1000)
    parser.add_argument("--list-requests", type=int, default=200)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="modelport-bench-"))
    manager = EmulatorManager()
    manager.start()
    emulator = manager.Emulator()
    emulator.start()
    database = django_on_postgres(
        workdir, KUBECONFIG=str(write_kubeconfig(workdir / "kubeconfig", emulator.address()))
    )
    from django.db import connection

    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run(emulator, args)
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
        emulator.stop()
        manager.shutdown()
        if database is not None:
            database.stop()


def make_tenant(emulator, name, ca_pem):
    from core.phase import Phase
    from tenants.models import Tenant, TenantBinding

    tenant = Tenant.objects.create(
        ca_cert=ca_pem, name=name, scope="bench", phase=Phase.READY, observed_generation=1
    )
    TenantBinding.objects.create(tenant=tenant, group="bench", role="editor")
    emulator.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return tenant


def run(emulator, args):
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from conftest import make_certificate
    from endpoints.models import Endpoint, ServingTemplate
    from endpoints.tasks import sync_endpoint_status
    from identity.models import PersonalAccessToken
    from portal.celery import app

    app.conf.task_always_eager = True
    ca_pem = make_certificate()
    app.conf.task_eager_propagates = True
    user = User.objects.create_user("bench")
    user.groups.add(Group.objects.create(name="bench"))
    _, token = PersonalAccessToken.issue(user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=token)

    # 1. Reconcile throughput, through the API.
    tenants = [make_tenant(emulator, f"tenant-{i:02d}", ca_pem) for i in range(args.tenants)]
    total = args.tenants * args.per_tenant
    started = time.perf_counter()
    for index in range(args.per_tenant):
        for tenant in tenants:
            body = {
                "endpointName": f"e{index:04d}",
                "modelName": "resnet",
                "servingName": "tf-serving",
                "subjectName": "client",
                "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}},
            }
            response = api.post(f"/tenants/{tenant.name}/endpoints", body, format="json")
            assert response.status_code == 201, response.json()
    elapsed = time.perf_counter() - started
    applied = Endpoint.objects.filter(observed_generation=1).count()
    deployments = len(emulator.objects("Deployment"))
    assert applied == total == deployments, (applied, total, deployments)
    print(
        f"reconcile: {total} endpoints in {elapsed:.1f} s = {total / elapsed:.0f} endpoints/s "
        f"(API call to applied objects; {len(emulator.objects()) - args.tenants} objects)"
    )

    # 2. One status cycle: every endpoint has a running pod and an available Deployment.
    for deployment in emulator.objects("Deployment"):
        deployment["status"] = {"availableReplicas": 1, "replicas": 1}
        emulator.put_object(deployment)
        meta = deployment["metadata"]
        emulator.put_object(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{meta['name']}-pod",
                    "namespace": meta["namespace"],
                    "labels": deployment["spec"]["template"]["metadata"]["labels"],
                },
                "status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            }
        )
    before = emulator.request_count()
    started = time.perf_counter()
    result = sync_endpoint_status.apply().get()
    elapsed = time.perf_counter() - started
    calls = emulator.request_count() - before
    ready = Endpoint.objects.filter(phase="Ready").count()
    assert ready == total, ready
    print(
        f"status cycle: {calls} API calls for {total} endpoints in {args.tenants} namespaces "
        f"({elapsed * 1000:.0f} ms, {result['changed']} endpoints updated)"
    )

    # 3. List latency for one tenant with many endpoints.
    big = make_tenant(emulator, "big", ca_pem)
    template = ServingTemplate.objects.get(name="tf-serving")
    Endpoint.objects.bulk_create(
        Endpoint(
            tenant=big,
            name=f"e{i:04d}",
            model_name="resnet",
            serving=template,
            subject_name="client",
        )
        for i in range(args.list_size)
    )
    api.get("/tenants/big/endpoints")  # the token's last use is recorded once a minute
    timings = []
    for _ in range(args.list_requests):
        started = time.perf_counter()
        response = api.get("/tenants/big/endpoints")
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    timings.sort()
    queries = {}
    for size in (100, 1000):
        with CaptureQueriesContext(connection) as captured:
            response = api.get(f"/tenants/big/endpoints?page_size={size}")
        assert len(response.json()["data"]["endpoints"]) == min(size, args.list_size)
        queries[size] = len(captured.captured_queries)
    started = time.perf_counter()
    api.get("/tenants/big/endpoints?page_size=1000")
    full_page = (time.perf_counter() - started) * 1000
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"list: {args.list_size} endpoints, page of 100: p50 {statistics.median(timings):.1f} ms, "
        f"p95 {p95:.1f} ms over {len(timings)} requests; page of 1000: {full_page:.1f} ms; "
        f"SQL queries per request: {queries[100]} (page 100), {queries[1000]} (page 1000)"
    )


if __name__ == "__main__":
    main()
