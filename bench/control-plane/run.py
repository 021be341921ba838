"""Control-plane benchmark: tenants x endpoints against the real Kubernetes control plane (kwok
nodes) and against the emulator, side by side. See README.md in this folder for what each figure
means.

    .venv/bin/python bench/control-plane/run.py            # 100 tenants x 10 endpoints
    .venv/bin/python bench/control-plane/run.py --quick    # 10 x 5, a check

It starts a throw-away PostgreSQL (or uses DATABASE_URL's server), then, for each cluster in turn,
a fresh test database, the cluster, and:
1. tenants and endpoints created through the management API (DRF's test client, as a platform
   admin), each create's reconcile task run in-process as an eager Celery task, until every
   endpoint's objects are applied, then status cycles back to back until every endpoint is Ready;
2. the status task (sync_endpoint_status) and the resyncs at that scale: duration and requests
   (counted in the client, and by the server: the apiserver's apiserver_request_total);
3. status freshness: the status task run at beat's interval in a thread while pods fail (and, on
   the real cluster, endpoints scale 1 -> 2), time from the change to the endpoint's row showing it;
4. the management API under uvicorn: p50/p99 of endpoint list and detail, as a platform admin
   and as a tenant member.
"""

import argparse
import base64
import http.client
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from clusters import Emulator, RealCluster  # noqa: E402

from bench.common import django_on_postgres, machine, serve_portal  # noqa: E402
from testinfra.servers import free_port  # noqa: E402

# Small enough that 10 fit a tenant's quota many times over; the init container gets the
# tenant's LimitRange defaults (100m / 256Mi requested, 1 CPU / 1Gi limit).
RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m"}}
# Waiting for Ready ends once no endpoint has turned Ready for this long.
STALL_SECONDS = 90
FRESHNESS_TIMEOUT = 120


def quota(endpoints):
    """Room for every endpoint and for a scale to 2 of each, with the LimitRange's defaults."""
    pods = 2 * endpoints + 2
    return {
        "maxEndpoints": endpoints,
        "requests.cpu": f"{pods * 100}m",
        "limits.cpu": str(pods),
        "limits.memory": f"{pods}Gi",
    }


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def log(message):
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def counting_requests():
    """Every HTTP request the official client's REST layer sends meanwhile (the product's only
    way to the apiserver), by method."""
    from kubernetes.client import rest

    counted = Counter()
    real = rest.RESTClientObject.request

    def request(self, method, url, *args, **kwargs):
        counted[method] += 1
        return real(self, method, url, *args, **kwargs)

    rest.RESTClientObject.request = request
    try:
        yield counted
    finally:
        rest.RESTClientObject.request = real


def run_task(task):
    """One task, eager, in this thread; its exception if it raised. (Not .get(): that refuses to
    run while an eager task of another thread is running.)"""
    result = task.apply()
    if result.failed():
        raise result.result
    return result.result


def server_delta(before, after):
    """Resource requests the server answered between two counts (health checks and /metrics,
    which have no resource, left out)."""
    return sum(n - before.get(key, 0) for key, n in after.items() if key[1] != "")


class Beat(threading.Thread):
    """The status task every `period` seconds, as beat sends it to one worker: a run longer
    than the period delays the next, which then starts at once."""

    def __init__(self, period):
        super().__init__(daemon=True)
        self.period = period
        self.stopping = threading.Event()
        self.durations = []
        self.next_at = time.monotonic()

    def run(self):
        from django.db import connections

        from endpoints.tasks import sync_endpoint_status

        self.next_at = time.monotonic()
        while not self.stopping.is_set():
            started = time.monotonic()
            run_task(sync_endpoint_status)
            self.durations.append(time.monotonic() - started)
            self.next_at = max(self.next_at + self.period, time.monotonic())
            self.stopping.wait(self.next_at - time.monotonic())
        connections.close_all()

    def wait_for_phase(self, offset):
        """Sleep until `offset` seconds after a run of the task started (or would have)."""
        target = self.next_at - self.period + offset
        while target < time.monotonic():
            target += self.period
        time.sleep(target - time.monotonic())

    def stop(self):
        self.stopping.set()
        self.join()


class Bench:
    def __init__(self, cluster, args, workdir):
        self.cluster = cluster
        self.args = args
        self.workdir = workdir
        self.figures = {}
        self.rng = random.Random(15)
        self.unready = ""

    # -- setup

    def api_as(self, user):
        from rest_framework.test import APIClient

        from identity.models import PersonalAccessToken

        _, token = PersonalAccessToken.issue(user)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=token)
        return api, token

    def run(self):
        from django.conf import settings
        from django.contrib.auth.models import Group, User

        from conftest import make_certificate
        from workers.backends.kube import reset_kube_client

        settings.KUBECONFIG = self.cluster.kubeconfig
        reset_kube_client()
        admin = User.objects.create_user("bench-admin", is_superuser=True)
        self.admin, self.admin_token = self.api_as(admin)
        self.tenant_names = [f"bench-t{i:04d}" for i in range(self.args.tenants)]
        member = User.objects.create_user("bench-member")
        member.groups.add(Group.objects.get_or_create(name=f"{self.tenant_names[0]}-users")[0])
        _, self.member_token = self.api_as(member)
        self.cert = base64.b64encode(make_certificate().encode()).decode()

        self.create_tenants()
        self.create_endpoints()
        self.status_cycles()
        self.freshness()
        self.api_latency()
        reset_kube_client()
        return self.figures

    # -- 1. reconcile throughput

    def create_tenants(self):
        from core.phase import Phase
        from tenants.models import Tenant

        started = time.perf_counter()
        for name in self.tenant_names:
            body = {
                "name": name,
                "scope": f"{name}-users",
                "cert": self.cert,
                "quota": quota(self.args.endpoints_per_tenant),
            }
            response = self.admin.post("/tenants", body, format="json")
            assert response.status_code == 201, response.json()
        elapsed = time.perf_counter() - started
        ready = Tenant.objects.filter(phase=Phase.READY).count()
        assert ready == len(self.tenant_names), list(Tenant.objects.values("name", "message"))
        self.figures["tenants: API call to provisioned"] = (
            f"{ready / elapsed:.1f}/s ({elapsed:.0f} s for {ready})"
        )
        log(f"{ready} tenants provisioned in {elapsed:.1f} s")

    def create_endpoints(self):
        from core.phase import Phase
        from endpoints.models import Endpoint
        from endpoints.tasks import sync_endpoint_status

        total = len(self.tenant_names) * self.args.endpoints_per_tenant
        started = time.perf_counter()
        with counting_requests() as counted:
            for index in range(self.args.endpoints_per_tenant):
                for tenant in self.tenant_names:
                    body = {
                        "endpointName": f"e{index:03d}",
                        "modelName": "iris",
                        "servingName": "mlserver",
                        "resources": RESOURCES,
                    }
                    response = self.admin.post(f"/tenants/{tenant}/endpoints", body, format="json")
                    assert response.status_code == 201, response.json()
                done = (index + 1) * len(self.tenant_names)
                log(f"{done}/{total} endpoints created and applied")
        applied_at = time.perf_counter()
        applied = Endpoint.objects.filter(observed_generation=1).count()
        assert applied == total, list(Endpoint.objects.exclude(observed_generation=1)[:5])
        elapsed = applied_at - started
        self.figures["endpoints: API call to objects applied"] = (
            f"{total / elapsed:.1f}/s ({elapsed:.0f} s for {total}; "
            f"{sum(counted.values()) / total:.0f} requests each)"
        )

        self.cluster.play_controllers()
        cycles = ready = 0
        changed_at = last_ready_at = time.perf_counter()
        while ready < total and time.perf_counter() - changed_at < STALL_SECONDS:
            run_task(sync_endpoint_status)
            cycles += 1
            count = Endpoint.objects.filter(phase=Phase.READY).count()
            if count != ready:
                ready, changed_at = count, time.perf_counter()
                last_ready_at = changed_at
            if cycles % 10 == 1 or ready == total:
                log(f"status cycle {cycles}: {ready}/{total} Ready")
        elapsed = last_ready_at - started
        note = "" if self.cluster.has_controllers else "; the bench writes pods and status"
        figure = f"{ready / elapsed:.1f}/s ({elapsed:.0f} s; {cycles} status cycles{note})"
        if ready < total:
            # What the product reports is what the cluster says; say why the cluster says it.
            figure = f"{ready} of {total} Ready, then none for {STALL_SECONDS} s: {figure}"
            log(f"stalled at {ready}/{total} Ready: {self.cluster.why_unready()}")
            self.unready = self.cluster.why_unready()
        self.figures["endpoints: API call to Ready"] = figure

    # -- 2. the status cycle and the resyncs at this scale

    def status_cycles(self):
        from endpoints.tasks import resync_endpoints, sync_endpoint_status
        from tenants.tasks import resync_tenants

        idle_before = self.cluster.request_counts()
        idle_started = time.perf_counter()
        time.sleep(self.args.idle_seconds)
        idle_rate = server_delta(idle_before, self.cluster.request_counts()) / (
            time.perf_counter() - idle_started
        )
        for label, task, repeats in (
            ("status cycle (sync_endpoint_status)", sync_endpoint_status, 5),
            ("resync_endpoints", resync_endpoints, 3),
            ("resync_tenants", resync_tenants, 3),
        ):
            durations, client, server, background = [], [], [], []
            for _ in range(repeats):
                before = self.cluster.request_counts()
                with counting_requests() as counted:
                    started = time.perf_counter()
                    run_task(task)
                    durations.append(time.perf_counter() - started)
                server.append(server_delta(before, self.cluster.request_counts()))
                client.append(sum(counted.values()))
                background.append(idle_rate * durations[-1])
            self.figures[f"{label}: duration"] = (
                f"{statistics.median(durations):.2f} s (median of {repeats})"
            )
            figure = f"{statistics.median(client):.0f}; server counted "
            figure += f"{statistics.median(server):.0f}"
            if self.cluster.has_controllers:
                figure += f" (other clients ≈{statistics.median(background):.0f})"
            self.figures[f"{label}: API requests"] = figure
            log(f"{label}: {self.figures[f'{label}: duration']}, requests {figure}")

    # -- 3. status freshness

    def freshness(self):
        from django.conf import settings

        from core.phase import Phase
        from endpoints.models import Endpoint

        period = settings.MODELPORT_STATUS_SECONDS
        ready = Endpoint.objects.filter(phase=Phase.READY)
        candidates = list(ready.values_list("tenant__name", "name"))
        self.rng.shuffle(candidates)
        # (what changes, how, when the row shows it, when the cluster shows it: None if the
        # change itself is the cluster's new state)
        changes = [
            ("pod CrashLoopBackOff", self.cluster.fail_pod, lambda e: e.phase == Phase.FAILED, None)
        ]
        if self.cluster.has_controllers:
            changes.append(
                (
                    "scale 1 -> 2 (API)",
                    self.scale_to_two,
                    lambda e: e.phase == Phase.READY and e.available_replicas == 2,
                    lambda t, n: (
                        self.cluster.describe(t, n)["status"].get("availableReplicas") == 2
                    ),
                )
            )
        beat = Beat(period)
        beat.start()
        try:
            for label, change, row_shows, cluster_shows in changes:
                samples = []
                # Changes spread evenly over the status period (in random order): a change just
                # after a status run waits nearly a period, one just before it hardly at all.
                offsets = [(i + 0.5) * period / self.args.samples for i in range(self.args.samples)]
                self.rng.shuffle(offsets)
                for offset in offsets:
                    beat.wait_for_phase(offset)
                    tenant, name = candidates.pop()
                    samples.append(
                        self.time_change(label, tenant, name, change, row_shows, cluster_shows)
                    )
                shown = [sample for sample in samples if sample is not None]
                row = [seconds for seconds, _ in shown] or [math.nan]
                figure = f"median {statistics.median(row):.1f} s, max {max(row):.1f} s"
                if cluster_shows is not None and shown:
                    cluster = [seconds for _, seconds in shown]
                    figure += f" (cluster alone: median {statistics.median(cluster):.1f} s)"
                figure += f"; {len(shown)} samples"
                if len(shown) < len(samples):
                    figure += f" ({len(samples) - len(shown)} more the cluster never made Ready)"
                self.figures[f"freshness: {label}"] = figure
                log(f"freshness {label}: {[tuple(round(s, 1) for s in x) for x in shown]}")
        finally:
            beat.stop()
        self.figures["status cycle under beat"] = (
            f"every {period} s, ran {statistics.median(beat.durations):.2f} s "
            f"(median of {len(beat.durations)})"
        )

    def time_change(self, label, tenant, name, change, row_shows, cluster_shows):
        """Seconds from `change` to the endpoint's row showing it, and to the cluster showing it
        (its Deployment, polled here; 0 when the change is itself the cluster's state)."""
        from endpoints.models import Endpoint

        started = time.monotonic()
        change(tenant, name)
        in_cluster = 0.0 if cluster_shows is None else None
        endpoint = Endpoint.objects.get(tenant__name=tenant, name=name)
        while not row_shows(endpoint):
            if time.monotonic() - started > FRESHNESS_TIMEOUT:
                if cluster_shows is not None and in_cluster is None:
                    # The cluster never got there either (a pod kwok never made Ready): nothing
                    # for the status task to show.
                    log(f"{label} of {tenant}/{name}: the cluster never showed it either")
                    return None
                raise TimeoutError(
                    f"{label} of {tenant}/{name} never showed: the row says "
                    f"{endpoint.phase} {endpoint.message!r}, replicas "
                    f"{endpoint.replicas}, available {endpoint.available_replicas}; "
                    f"the cluster: {self.cluster.describe(tenant, name)}"
                )
            if in_cluster is None and cluster_shows(tenant, name):
                in_cluster = time.monotonic() - started
            time.sleep(0.1)
            endpoint.refresh_from_db()
        seen = time.monotonic() - started
        return seen, seen if in_cluster is None else in_cluster

    def scale_to_two(self, tenant, name):
        response = self.admin.patch(
            f"/tenants/{tenant}/endpoints/{name}/replicas", {"replicas": 2}, format="json"
        )
        assert response.status_code == 200, response.json()

    # -- 4. the management API

    def api_latency(self):
        from django.db import connection

        from endpoints.models import Endpoint

        db = connection.settings_dict
        data_dir = self.workdir / "portal"
        data_dir.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "KUBECONFIG": self.cluster.kubeconfig,
            "MODELPORT_DATA_DIR": str(data_dir),
        }
        port = free_port()
        portal = serve_portal(ROOT, port, env)
        everyone = list(Endpoint.objects.values_list("tenant__name", "name"))
        members = [pair for pair in everyone if pair[0] == self.tenant_names[0]]
        try:
            for who, token, pairs in (
                ("platform admin", self.admin_token, everyone),
                ("tenant member", self.member_token, members),
            ):
                tenants = sorted({tenant for tenant, _ in pairs})
                for view, paths in (
                    ("list", [f"/tenants/{tenant}/endpoints" for tenant in tenants]),
                    ("detail", [f"/tenants/{t}/endpoints/{e}" for t, e in pairs]),
                ):
                    timings = self.time_requests(port, token, paths)
                    self.figures[f"API {view}, {who}"] = (
                        f"p50 {statistics.median(timings):.1f} ms, "
                        f"p99 {percentile(timings, 0.99):.1f} ms"
                    )
                    log(f"API {view}, {who}: {self.figures[f'API {view}, {who}']}")
        finally:
            portal.terminate()
            portal.wait()

    def time_requests(self, port, token, paths):
        """Milliseconds per GET of a path drawn from `paths`, over one kept-alive connection."""
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        timings = []
        for index in range(self.args.requests + 10):  # the first 10 warm up
            started = time.perf_counter()
            path = self.rng.choice(paths)
            connection.request("GET", path, headers={"Authorization": token})
            response = connection.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status == 200, response.status
            if index >= 10:
                timings.append(elapsed)
        connection.close()
        return timings


def versions():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    packages = ("django", "djangorestframework", "celery", "kubernetes", "uvicorn")
    return ", ".join([f"PostgreSQL {postgres}", *(f"{name} {version(name)}" for name in packages)])


def print_notes(clusters):
    for cluster in clusters:
        if getattr(cluster, "unready", ""):
            print(f"Note ({cluster.name}): endpoints not Ready: {cluster.unready}")


def print_table(figures, clusters, args):
    names = [cluster.name for cluster in clusters]
    labels = list(dict.fromkeys(label for result in figures.values() for label in result))
    width = max(len(label) for label in labels)
    columns = [
        max(len(name), *(len(figures[name].get(label, "")) for label in labels)) for name in names
    ]
    print()
    print(
        f"Control plane: {args.tenants} tenants x {args.endpoints_per_tenant} endpoints "
        f"(mlserver, 1 replica, {RESOURCES})"
    )
    print(f"Machine: {machine()}; {platform.system()} {platform.release()}")
    print(f"Load average before / after: {args.load_before} / {os.getloadavg()[0]:.1f} (1 min)")
    print(f"Versions: {args.versions}")
    for cluster in clusters:
        print(f"  {cluster.name}: {cluster.version_line}")
    print()
    print(" | ".join([" " * width, *(n.ljust(c) for n, c in zip(names, columns, strict=True))]))
    print("-+-".join(["-" * width, *("-" * c for c in columns)]))
    for label in labels:
        cells = [
            figures[name].get(label, "-").ljust(column)
            for name, column in zip(names, columns, strict=True)
        ]
        print(" | ".join([label.ljust(width), *cells]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--endpoints-per-tenant", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="10 tenants x 5 endpoints, a check")
    parser.add_argument(
        "--cluster", choices=("both", "real", "emulator"), default="both", help="which to run"
    )
    parser.add_argument("--samples", type=int, default=5, help="freshness samples per change")
    parser.add_argument("--requests", type=int, default=200, help="API requests per series")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.quick:
        args.tenants, args.endpoints_per_tenant, args.samples, args.requests = 10, 5, 3, 50
    args.load_before = f"{os.getloadavg()[0]:.1f}"

    workdir = Path(tempfile.mkdtemp(prefix="modelport-bench-control-plane-"))
    for name in ("REDIS_URL", "S3_ENDPOINT_URL", "KUBECONFIG"):
        os.environ.pop(name, None)
    database = django_on_postgres(workdir)
    from django.db import connection

    from portal.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False  # eager retries re-run the task only this way

    total = args.tenants * args.endpoints_per_tenant
    clusters = []
    if args.cluster in ("both", "real"):
        clusters.append(RealCluster(pods=total + 5 * args.samples))
    if args.cluster in ("both", "emulator"):
        clusters.append(Emulator(workdir))
    figures = {}
    database_name = connection.settings_dict["NAME"]
    try:
        for cluster in clusters:
            print(f"{cluster.name}: {args.tenants} x {args.endpoints_per_tenant}", file=sys.stderr)
            connection.creation.create_test_db(verbosity=0, autoclobber=True)
            cluster.start()
            try:
                cluster.version_line = cluster.versions()
                args.versions = versions()
                bench = Bench(cluster, args, workdir)
                figures[cluster.name] = bench.run()
                cluster.unready = bench.unready
            finally:
                cluster.stop()
                connection.creation.destroy_test_db(database_name, verbosity=0)
    finally:
        if database is not None:
            database.stop()
    print_table(figures, clusters, args)
    print_notes(clusters)


if __name__ == "__main__":
    main()
