"""Request ids, log records and metrics, piece by piece (test_observability_e2e.py has them
together on a started product)."""

import json
import logging

import pytest
from prometheus_client import REGISTRY

from core import request_id
from core.logs import JsonFormatter, RequestIdFilter
from portal.metrics import exposition


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0


def record(message, **extra):
    entry = logging.LogRecord("modelport.test", logging.WARNING, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(entry, key, value)
    RequestIdFilter().filter(entry)
    return entry


def test_a_json_log_line_carries_the_request_id_and_the_extra_fields():
    token = request_id.bind("req-51")
    try:
        line = JsonFormatter().format(record("tenant %s applied", tenant="t1", lag_seconds=0.5))
    finally:
        request_id.reset(token)
    entry = json.loads(line)
    assert entry["request_id"] == "req-51"
    assert entry["level"] == "WARNING" and entry["logger"] == "modelport.test"
    assert entry["tenant"] == "t1" and entry["lag_seconds"] == 0.5
    assert entry["time"].endswith("+00:00")


def test_a_log_line_outside_any_request_says_so():
    assert json.loads(JsonFormatter().format(record("beat")))["request_id"] == "-"


def test_an_exception_is_one_string_in_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        entry = record("failed")
        entry.exc_info = sys.exc_info()
    line = JsonFormatter().format(entry)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


@pytest.mark.parametrize(
    "sent, kept",
    [
        ("4bf92f3577b34da6a3ce929d0e0e4736", True),
        ("trace-1:span-2", True),
        ("", False),
        ("two words", False),
        ("x" * 129, False),
        ("evil\r\nSet-Cookie: a=b", False),
    ],
)
def test_a_callers_request_id_is_kept_only_when_it_looks_like_one(sent, kept):
    accepted = request_id.accept(sent)
    assert (accepted == sent) is kept
    assert request_id.ACCEPTED.fullmatch(accepted)


@pytest.mark.django_db
def test_django_answers_are_counted_by_route_pattern_never_by_path(client):
    before = sample(
        "modelport_http_requests_total",
        route="/servings/<str:name>",
        method="GET",
        status_class="4xx",
    )
    client.get("/servings/some-name")
    client.get("/servings/another-name")
    assert (
        sample(
            "modelport_http_requests_total",
            route="/servings/<str:name>",
            method="GET",
            status_class="4xx",
        )
        == before + 2
    )
    text = exposition().decode()
    assert "some-name" not in text and "another-name" not in text
    client.get("/no/such/page")
    assert sample(
        "modelport_http_requests_total", route="unmatched", method="GET", status_class="4xx"
    )


@pytest.mark.django_db
def test_metrics_need_the_token_when_one_is_set(client, settings):
    settings.MODELPORT_METRICS_TOKEN = "t0ken"
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "metrics_forbidden"
    assert client.get("/metrics", headers={"Authorization": "Bearer t0ken"}).status_code == 200


@pytest.mark.django_db
def test_without_a_token_only_this_machine_may_scrape(client, settings):
    settings.MODELPORT_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403


@pytest.mark.django_db
def test_a_task_run_is_counted_and_timed_under_its_name():
    from tenants.tasks import reconcile_tenant

    name = "tenants.tasks.reconcile_tenant"
    ok = sample("modelport_task_runs_total", task=name, result="ok")
    runs = sample("modelport_task_seconds_count", task=name)
    reconcile_tenant.delay(pk=10**9)  # no such tenant: "gone", nothing failed
    assert sample("modelport_task_runs_total", task=name, result="ok") == ok + 1
    assert sample("modelport_task_seconds_count", task=name) == runs + 1


def test_a_task_sent_during_a_request_carries_its_id():
    from portal.celery import _stamp

    token = request_id.bind("req-77")
    try:
        headers = {}
        _stamp(headers=headers)
    finally:
        request_id.reset(token)
    assert headers["request_id"] == "req-77" and headers["sent_at"] > 0
    beat = {}
    _stamp(headers=beat)  # outside a request (beat): an id of its own
    assert beat["request_id"] not in ("", "req-77")


def test_a_worker_in_a_pod_of_its_own_serves_its_task_metrics(settings):
    import requests

    from portal.celery import _serve_metrics
    from testinfra.servers import free_port

    settings.MODELPORT_WORKER_METRICS_PORT = free_port()
    _serve_metrics()
    scraped = requests.get(f"http://127.0.0.1:{settings.MODELPORT_WORKER_METRICS_PORT}/", timeout=5)
    assert scraped.status_code == 200
    assert "# TYPE modelport_task_runs_total counter" in scraped.text
