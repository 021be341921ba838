"""Applications calling endpoints through the gateway with their API keys: real uvicorn servers
(in this process, and two more as separate processes sharing Redis) in front of a real MLServer
replica; keys, plans, limits and usage as a client application would meet them."""

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
import requests
from django.conf import settings
from django.contrib.auth.models import User
from prometheus_client import REGISTRY

from applications.models import Application, Plan
from audit.models import AuditRecord
from endpoints.models import Endpoint, ServingTemplate
from gateway.models import UsageMinute
from gateway.tests.test_gateway import backend_override, model_servers  # noqa: F401 - fixtures
from gateway.usage import MemoryUsage, flush_redis, store_drained, store_minute
from identity.models import PersonalAccessToken
from tenants.models import Tenant, TenantBinding
from testinfra.fixtures import ROOT, _database_url, wait_until
from testinfra.models import IRIS_ROWS, v2_request
from testinfra.servers import free_port, stop_process, wait_for_http

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_gateway")]


@pytest.fixture
def demo(make_user, client_for, model_servers, settings):  # noqa: F811 - a fixture
    """Tenant `demo` (endpoints iris, running, and idle) with an admin, and tenant `other`."""
    settings.DATA_DIR = model_servers[0]
    tenant = Tenant.objects.create(name="demo", scope="team")
    TenantBinding.objects.create(tenant=tenant, group="demo-admins", role="admin")
    other = Tenant.objects.create(name="other", scope="others")
    TenantBinding.objects.create(tenant=other, group="others", role="admin")
    serving, _ = ServingTemplate.objects.get_or_create(name="mlserver")
    for owner, name, replicas in ((tenant, "iris", 1), (tenant, "idle", 0), (other, "iris", 0)):
        Endpoint.objects.create(
            tenant=owner,
            name=name,
            model_name="iris",
            serving=serving,
            subject_name="client",
            replicas=replicas,
        )
    Plan.objects.create(name="free", requests_per_minute=1000)
    return {
        "api": client_for(make_user("ada", groups=["demo-admins"])),
        "other_api": client_for(make_user("olga", groups=["others"])),
        "expected": model_servers[1],
    }


def new_application(api, name, endpoints=("iris",), plan="free", tenant="demo"):
    response = api.post(
        f"/tenants/{tenant}/applications",
        {"name": name, "plan": plan, "endpoints": list(endpoints)},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["data"]["key"]


def infer(url, key, endpoint="iris", tenant="demo"):
    return requests.post(
        f"{url}/gateway/{tenant}/{endpoint}/v2/models/iris/infer",
        json=v2_request(IRIS_ROWS),
        headers={"Authorization": key},
        timeout=30,
    )


def test_an_applications_key_gets_predictions_bare_and_as_bearer(gateway_url, demo):
    key = new_application(demo["api"], "scorer")
    assert key.startswith("mpk_")
    for header in (key, f"Bearer {key}"):
        response = infer(gateway_url, header)
        assert response.status_code == 200, response.text
        assert response.json()["outputs"][0]["data"] == demo["expected"]
        assert response.headers["X-RateLimit-Limit"] == "1000"
    # The key's first call is in the audit trail, once, as the application's.
    [first] = AuditRecord.objects.filter(action="first_use")
    assert (first.actor, first.actor_kind, first.door) == ("scorer", "application", "gateway")
    assert (first.kind, first.name, first.tenant) == ("api_key", key[:12], "demo")


def test_a_key_for_another_endpoint_gets_403(gateway_url, demo):
    key = new_application(demo["api"], "idle-only", endpoints=["idle"])
    response = infer(gateway_url, key)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "endpoint_not_subscribed"


def test_another_tenants_key_gets_404(gateway_url, demo):
    key = new_application(demo["other_api"], "theirs", tenant="other")
    response = infer(gateway_url, key)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"


def test_an_unknown_key_gets_401(gateway_url, demo):
    response = infer(gateway_url, "mpk_made-up")
    assert response.status_code == 401
    assert "unknown, revoked or expired" in response.json()["error"]["message"]


def test_a_revoked_key_is_refused_within_a_second(gateway_url, demo):
    key = new_application(demo["api"], "scorer")
    assert infer(gateway_url, key).status_code == 200
    assert demo["api"].post("/tenants/demo/applications/scorer/revoke").status_code == 200
    time.sleep(1.05)
    assert infer(gateway_url, key).status_code == 401


def test_after_rotation_the_old_key_works_until_the_grace_ends(gateway_url, demo):
    old = new_application(demo["api"], "scorer")
    response = demo["api"].post(
        "/tenants/demo/applications/scorer/rotate", {"graceSeconds": 2}, format="json"
    )
    new = response.json()["data"]["key"]
    assert new != old
    assert infer(gateway_url, old).status_code == 200
    assert infer(gateway_url, new).status_code == 200
    time.sleep(3.1)  # the grace, and the gateway's one-second cache
    assert infer(gateway_url, old).status_code == 401
    assert infer(gateway_url, new).status_code == 200


def decided(decision):
    """How many times the limiter has answered `decision` in this process (core.metrics)."""
    labels = {"decision": decision}
    return REGISTRY.get_sample_value("modelport_gateway_limiter_decisions_total", labels) or 0


def test_calls_over_the_plan_get_429_with_retry_after(gateway_url, demo):
    Plan.objects.create(name="tiny", requests_per_minute=2)
    key = new_application(demo["api"], "scorer", plan="tiny")
    decisions = {d: decided(d) for d in ("allowed", "requestsPerMinute")}
    first, second, third = (infer(gateway_url, key) for _ in range(3))
    assert [first.status_code, second.status_code] == [200, 200]
    assert decided("allowed") == decisions["allowed"] + 2
    assert decided("requestsPerMinute") == decisions["requestsPerMinute"] + 1
    assert second.headers["X-RateLimit-Remaining"] == "0"
    assert third.status_code == 429
    assert third.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert third.headers["X-RateLimit-Limit"] == "2"


class _Tokens(BaseHTTPRequestHandler):
    """An LLM-like backend: every answer reports 7 tokens, OpenAI style."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"choices": [], "usage": {"prompt_tokens": 3, "total_tokens": 7}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_tokens_reported_by_the_model_count_against_the_plan(gateway_url, demo, backend_override):  # noqa: F811
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tokens)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    backend_override(f"http://127.0.0.1:{server.server_port}")
    Plan.objects.create(name="llm", tokens_per_minute=10)
    key = new_application(demo["api"], "chat", plan="llm")
    if time.time() % 60 > 50:  # the three calls share one minute's window
        time.sleep(61 - time.time() % 60)
    codes = []
    counters = f"*:application:{Application.objects.get(name='chat').pk}:t:*"
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        for name in client.scan_iter(counters):  # an earlier run's, for a row with this id
            client.delete(name)

        def tokens_counted():
            return sum(int(client.get(name) or 0) for name in client.scan_iter(counters))

        for calls in range(1, 4):
            codes.append(infer(gateway_url, key).status_code)
            # The gateway adds the tokens once the answer has gone out, so they may land after
            # the client has read it.
            if codes[-1] == 200:
                wait_until(lambda n=calls: tokens_counted() == 7 * n, timeout=10)
    server.shutdown()
    assert codes == [200, 200, 429]


def test_concurrency_slots_are_given_back_when_calls_end_also_in_error(gateway_url, demo):
    Plan.objects.create(name="one-at-a-time", concurrent_requests=1)
    key = new_application(demo["api"], "serial", endpoints=["iris", "idle"], plan="one-at-a-time")
    codes = [infer(gateway_url, key, endpoint=name).status_code for name in ("iris", "idle") * 2]
    assert codes == [200, 503, 200, 503]


def test_without_redis_the_gateway_limits_and_counts_in_its_own_process(
    gateway_url, demo, settings
):
    from portal.asgi import gateway

    settings.REDIS_URL = ""
    Plan.objects.create(name="tiny", requests_per_minute=2)
    key = new_application(demo["api"], "scorer", plan="tiny")
    assert [infer(gateway_url, key).status_code for _ in range(3)] == [200, 200, 429]
    assert isinstance(gateway.usage, MemoryUsage)

    def counted():
        return sum(
            value
            for counters in gateway.usage.minutes.values()
            for field, value in counters.items()
            if field.endswith("|requests")
        )

    deadline = time.monotonic() + 10
    while counted() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert usage_requests(demo["api"], "scorer") == 3  # counted, not yet stored: shown at once
    store_drained(gateway.usage.drain(before=time.time() + 120))
    assert sum(row.requests for row in UsageMinute.objects.filter(application="scorer")) == 3
    assert usage_requests(demo["api"], "scorer") == 3  # stored, and no longer in the process


def usage_requests(api, application):
    response = api.get(f"/tenants/demo/usage?granularity=minute&application={application}")
    assert response.status_code == 200, response.json()
    return sum(point["requests"] for point in response.json()["data"]["series"])


def test_usage_shows_calls_at_once_and_the_same_after_the_flush(gateway_url, demo):
    key = new_application(demo["api"], "scorer")
    for _ in range(3):
        assert infer(gateway_url, key).status_code == 200
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        wait_until(lambda: _requests_counted(client) == 3, timeout=10)
        assert UsageMinute.objects.count() == 0
        assert usage_requests(demo["api"], "scorer") == 3

        # A flush stopped after copying the minute, before Redis forgot it: the minute's
        # totals come from Redis alone, not from both.
        for raw in client.smembers("modelport:usage:minutes"):
            store_minute(int(raw), client.hgetall(f"modelport:usage:{int(raw)}"))
        assert UsageMinute.objects.filter(application="scorer").get().requests == 3
        assert usage_requests(demo["api"], "scorer") == 3

        flush_redis(client, before=time.time() + 120)  # done: only the database has them
        assert _requests_counted(client) == 0
        assert usage_requests(demo["api"], "scorer") == 3


class GatewayProcess:
    """`uvicorn portal.asgi:application` in a process of its own, on the test database."""

    def __init__(self, data_dir):
        self.port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "MODELPORT_DATA_DIR": str(data_dir),
            "MODELPORT_ORCHESTRATOR": "local",
        }
        command = [sys.executable, "-m", "uvicorn", "portal.asgi:application"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for_http(f"{self.url}/healthz", timeout=60, process=self.process)

    def stop(self):
        stop_process(self.process)


@pytest.fixture
def two_gateways(demo, model_servers):  # noqa: F811 - a fixture
    gateways = [GatewayProcess(model_servers[0]) for _ in range(2)]
    yield [gateway.url for gateway in gateways]
    for gateway in gateways:
        gateway.stop()


def test_a_plan_holds_across_two_gateway_processes(demo, two_gateways):
    n = 5
    Plan.objects.create(name="five", requests_per_minute=n)
    key = new_application(demo["api"], "busy", plan="five")
    urls = [two_gateways[i % 2] for i in range(2 * n)]
    with ThreadPoolExecutor(max_workers=2 * n) as pool:
        codes = sorted(pool.map(lambda url: infer(url, key).status_code, urls))
    assert codes == [200] * n + [429] * n


def _requests_counted(client):
    return sum(
        int(value)
        for key in client.scan_iter("modelport:usage:[0-9]*")
        for field, value in client.hgetall(key).items()
        if field.endswith(b"|requests")
    )


def test_usage_after_a_flush_equals_the_calls_made(gateway_url, demo):
    key = new_application(demo["api"], "scorer")
    Plan.objects.create(name="tiny", requests_per_minute=3)
    limited = new_application(demo["api"], "limited", plan="tiny")
    for _ in range(4):
        assert infer(gateway_url, key).status_code == 200
    limited_codes = [infer(gateway_url, limited).status_code for _ in range(5)]
    assert limited_codes == [200, 200, 200, 429, 429]
    member_token = PersonalAccessToken.issue(User.objects.get(username="ada"))[1]
    assert infer(gateway_url, member_token).status_code == 200
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        # Counted as each answer ends: wait for the last one, then flush the current minute too.
        deadline = time.monotonic() + 10
        while _requests_counted(client) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flush_redis(client, before=time.time() + 120) > 0
        assert flush_redis(client, before=time.time() + 120) == 0  # nothing left, nothing doubled

    totals = {}
    for row in UsageMinute.objects.all():
        total = totals.setdefault(row.application, {"requests": 0, "4xx": 0, "timed": 0})
        total["requests"] += row.requests
        total["4xx"] += row.errors_4xx
        total["timed"] += sum(row.latency_buckets)
    assert totals == {
        "scorer": {"requests": 4, "4xx": 0, "timed": 4},
        "limited": {"requests": 5, "4xx": 2, "timed": 5},
        "": {"requests": 1, "4xx": 0, "timed": 1},  # the member's own call
    }

    response = demo["api"].get("/tenants/demo/usage?granularity=minute")
    series = response.json()["data"]["series"]
    assert sum(point["requests"] for point in series) == 10
    assert sum(point["errors"] for point in series) == 2
    assert all(point["p50_ms"] is not None for point in series)

    only = demo["api"].get("/tenants/demo/usage?granularity=day&application=limited")
    assert sum(p["requests"] for p in only.json()["data"]["series"]) == 5

    exported = demo["api"].get("/tenants/demo/usage?granularity=day&format=csv")
    assert exported["Content-Type"].startswith("text/csv")
    header, *lines = exported.content.decode().splitlines()
    assert header == "time,requests,errors,p50_ms,p99_ms,tokens,prompt_tokens,completion_tokens"
    assert sum(int(line.split(",")[1]) for line in lines) == 10
    assert sum(int(line.split(",")[2]) for line in lines) == 2
