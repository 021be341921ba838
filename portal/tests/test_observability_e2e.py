"""Operability on the product `make run` starts (separate web and worker processes): one request
id from the caller's request through the worker's task and the gateway's forwarded call, in the
JSON logs; and GET /metrics summing what every process counted."""

import json

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import LABELS
from testinfra.fixtures import wait_until

pytestmark = pytest.mark.e2e


def log_lines(product):
    """The product's JSON log lines (the supervisor's own lines and tracebacks are skipped)."""
    lines = []
    for line in product.output().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def scrape(product):
    """{(metric, sorted label items): value} of a GET /metrics."""
    response = requests.get(f"{product.url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_one_request_id_follows_a_change_and_a_call_and_every_process_is_counted(
    embedded_product,
):
    # The demo's one endpoint, iris (tiny-chat has tests of its own).
    product = embedded_product(
        demo=True, LOG_LEVEL="INFO", MODELPORT_LOG_FORMAT="json", MODELPORT_DEMO_LLM="false"
    )
    admin = product.manage("create_token", "admin", "--days", "1").stdout.strip()
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {admin}"

    # A change through the API: the worker's reconcile logs under the request's id.
    created = api.post(
        f"{product.url}/tenants",
        json={"name": "observed", "scope": "observers"},
        headers={"X-Request-ID": "change-4f1c"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    assert created.headers["X-Request-ID"] == "change-4f1c"
    applied = wait_until(
        lambda: [
            line
            for line in log_lines(product)
            if line["request_id"] == "change-4f1c" and line["logger"] == "workers.reconcile"
        ],
        timeout=60,
        message="the worker's log line for the tenant's reconcile",
    )
    assert applied[0]["message"].startswith("tenant observed: generation 1 applied")
    assert applied[0]["kind"] == "tenant"
    # ... and the audit trail has the change under the same id.
    trail = api.get(f"{product.url}/audit?requestId=change-4f1c", timeout=10).json()
    recorded = [(r["action"], r["kind"], r["name"]) for r in trail["data"]["records"]]
    assert ("create", "tenant", "observed") in recorded
    assert {r["actor"] for r in trail["data"]["records"]} == {"admin"}

    # A call through the gateway (tried again, with the same id, until the demo is up): the
    # access log line carries the caller's id.
    token = (product.data_dir / "demo-token").read_text().strip()
    call = {
        "url": f"{product.url}/gateway/demo/iris/v2/models/iris/infer",
        "json": {
            "inputs": [
                {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}
            ]
        },
        "headers": {"Authorization": token, "X-Request-ID": "call-9b2e"},
        "timeout": 10,
    }
    answered = wait_until(
        lambda: (r := requests.post(**call)).status_code == 200 and r,  # noqa: S113 - in `call`
        timeout=120,
        message="the demo endpoint to answer",
    )
    assert answered.headers["X-Request-ID"] == "call-9b2e"
    access = wait_until(
        lambda: [
            line
            for line in log_lines(product)
            if line["logger"] == "gateway.access"
            and line["request_id"] == "call-9b2e"
            and line["status"] == 200
        ],
        timeout=10,
        message="the gateway's access log line",
    )
    assert access[-1]["endpoint"] == "iris" and access[-1]["duration_ms"] > 0

    # The scrape sums the web process (API, gateway) and the worker's (tasks).
    samples = scrape(product)
    assert (
        value(
            samples,
            "modelport_http_requests_total",
            route="/tenants",
            method="POST",
            status_class="2xx",
        )
        == 1
    )
    assert (
        value(
            samples,
            "modelport_gateway_requests_total",
            tenant="demo",
            endpoint="iris",
            application="-",
            status_class="2xx",
        )
        >= 1
    )
    assert (
        value(
            samples, "modelport_task_runs_total", task="tenants.tasks.reconcile_tenant", result="ok"
        )
        >= 1
    )
    phases = ("Pending", "Provisioning", "Ready", "Failed", "Deleting")
    assert sum(value(samples, "modelport_endpoints", phase=phase) for phase in phases) == 1
    wait_until(
        lambda: value(scrape(product), "modelport_endpoints", phase="Ready") == 1,
        timeout=60,
        message="the scrape to show the demo endpoint Ready",
    )
    assert (
        value(
            samples, "modelport_endpoint_replicas", tenant="demo", endpoint="iris", state="desired"
        )
        == 1
    )

    # Every series has exactly its metric's labels: none with an id, a user or a path.
    for (name, labels), _ in samples.items():
        base = name.removesuffix("_total").removesuffix("_created")
        for suffix in ("_bucket", "_sum", "_count"):
            if base not in LABELS:
                base = base.removesuffix(suffix)
        assert base in LABELS, name
        names = {key for key, _ in labels} - {"le"}
        assert names == set(LABELS[base]), (name, labels)


def test_metrics_are_served_to_this_machine_or_to_a_scraper_with_the_token(embedded_product):
    token = "scrape-secret-7d2a"
    product = embedded_product(MODELPORT_METRICS_TOKEN=token)
    url = f"{product.url}/metrics"
    refused = requests.get(url, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "metrics_forbidden"
    assert (
        requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 403
    )
    scraped = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert scraped.status_code == 200
    assert "modelport_queue_length" in scraped.text
