"""The Grafana dashboards and Prometheus alert rules in deploy/grafana name only metrics and
labels that core/metrics.py exports, and carry what Grafana and Prometheus need to load them."""

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from core import metrics
from core.phase import Phase

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARD_FILES = ("platform-dashboard.json", "tenant-dashboard.json")
ALERTS_FILE = "alerts.yaml"
REQUIRED_ALERTS = {
    "ModelportEndpointFailed",
    "ModelportReconcileFailing",
    "ModelportGateway5xxRate",
    "ModelportLimiterUnavailable",
    "ModelportQueueBacklog",
}
SEVERITIES = {"critical", "warning", "info"}

METRIC = re.compile(r"\bmodelport_[a-z_]+")
SUFFIXES = ("_total", "_bucket", "_sum", "_count")
SELECTOR = re.compile(r"\b(modelport_[a-z_]+)\s*\{([^{}]*)\}")
MATCHER = r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*'
MATCHERS = re.compile(rf"(?:{MATCHER}(?:,{MATCHER})*,?)?\s*")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
LABEL_VALUES = re.compile(r"label_values\(\s*(modelport_[a-z_]+)[^,]*,\s*(\w+)\s*\)")

# Label values that the code fixes, for `=` matchers (template variables like $tenant aside).
KNOWN_VALUES = {
    "phase": set(Phase.values),
    "status_class": {metrics.status_class(status) for status in range(100, 600, 100)},
}


def exported_series():
    """{series name a scrape shows: its labels}: a counter as `_total`, a histogram as
    `_bucket` (with `le`), `_sum` and `_count`, a gauge (and each state metric) by its name."""
    series = {}
    for metric in vars(metrics).values():
        labels = tuple(getattr(metric, "_labelnames", ()))
        if isinstance(metric, Counter):
            series[f"{metric._name}_total"] = labels
        elif isinstance(metric, Histogram):
            series[f"{metric._name}_bucket"] = (*labels, "le")
            series[f"{metric._name}_sum"] = labels
            series[f"{metric._name}_count"] = labels
        elif isinstance(metric, Gauge):
            series[metric._name] = labels
    for name, (_, labels) in metrics.STATE_METRICS.items():
        series[name] = tuple(labels)
    return series


EXPORTED = exported_series()


def base_name(series):
    for suffix in SUFFIXES:
        if series.endswith(suffix):
            return series.removesuffix(suffix)
    return series


def load_dashboards(folder=GRAFANA):
    return {name: json.loads((folder / name).read_text()) for name in DASHBOARD_FILES}


def load_rules(folder=GRAFANA):
    return yaml.safe_load((folder / ALERTS_FILE).read_text())


def all_panels(panels):
    """Every panel, rows' nested panels (a collapsed row holds them) included."""
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def dashboard_expressions(name, dashboard):
    """(where, PromQL) for every panel target and every query variable of a dashboard."""
    for panel in all_panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            yield f"{name} panel {panel.get('title')!r} {target.get('refId')}", target.get("expr")
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable.get("query")
            query = query.get("query") if isinstance(query, dict) else query
            yield f"{name} variable {variable.get('name')!r}", query


def rule_expressions(document):
    for group in document.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            yield f"{ALERTS_FILE} group {group.get('name')!r} rule {name!r}", rule.get("expr")


def expression_problems(where, expr):
    """What in one PromQL expression names a metric or label that core.metrics does not export."""
    if not isinstance(expr, str) or not expr.strip():
        return [f"{where}: no expression"]
    problems = []
    names = METRIC.findall(expr)
    if not names:
        problems.append(f"{where}: names no modelport metric: {expr}")
    for name in names:
        if base_name(name) not in metrics.LABELS:
            problems.append(f"{where}: unknown metric {name}")
        elif name not in EXPORTED:
            problems.append(f"{where}: {base_name(name)} is not exported as {name}")
    labels_in_expr = {"le"}.union(*(EXPORTED.get(name, ()) for name in names))
    for name, body in SELECTOR.findall(expr):
        if not MATCHERS.fullmatch(body):
            problems.append(f"{where}: cannot read the matchers of {name}{{{body}}}")
            continue
        allowed = EXPORTED.get(name, metrics.LABELS.get(base_name(name), ()))
        for label, operator, value in re.findall(MATCHER, body):
            if label not in allowed:
                problems.append(f"{where}: {name} has no label {label!r} (it has {allowed})")
            elif (
                operator == "="
                and value[:1] != "$"
                and value not in KNOWN_VALUES.get(label, {value})
            ):
                problems.append(f"{where}: {label}={value!r} never occurs")
    for grouping in GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in grouping.split(","))):
            if label not in labels_in_expr:
                problems.append(f"{where}: groups by {label!r}, a label none of {names} has")
    for name, label in LABEL_VALUES.findall(expr):
        if label not in EXPORTED.get(name, ()):
            problems.append(f"{where}: label_values of {name} by {label!r}, which it lacks")
    return problems


def problems(dashboards, rules):
    """Every metric or label that the parsed dashboards ({file name: document}) and alert rules
    name but core.metrics does not export."""
    found = []
    for name, dashboard in dashboards.items():
        for where, expr in dashboard_expressions(name, dashboard):
            found += expression_problems(where, expr)
    for where, expr in rule_expressions(rules):
        found += expression_problems(where, expr)
    return found


@pytest.fixture(scope="module")
def dashboards():
    return load_dashboards()


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def test_every_expression_names_only_metrics_and_labels_that_exist(dashboards, rules):
    assert problems(dashboards, rules) == []


def test_a_dashboard_naming_an_unknown_metric_or_label_is_caught(tmp_path):
    for name in (*DASHBOARD_FILES, ALERTS_FILE):
        (tmp_path / name).write_text((GRAFANA / name).read_text())
    platform = tmp_path / "platform-dashboard.json"
    platform.write_text(
        platform.read_text().replace(
            "modelport_gateway_requests_total", "modelport_gateway_request_total"
        )
    )
    tenant = tmp_path / "tenant-dashboard.json"
    tenant.write_text(tenant.read_text().replace('tenant=\\"$tenant\\"', 'tenat=\\"$tenant\\"'))

    found = problems(load_dashboards(tmp_path), load_rules(tmp_path))

    assert any("unknown metric modelport_gateway_request_total" in p for p in found), found
    assert any("has no label 'tenat'" in p for p in found), found


def test_a_rule_with_a_wrong_suffix_or_label_value_is_caught():
    rules = {
        "groups": [
            {
                "name": "broken",
                "rules": [
                    {"alert": "A", "expr": "modelport_endpoints_total > 0"},
                    {"alert": "B", "expr": 'modelport_endpoints{phase="failed"} > 0'},
                    {"alert": "C", "expr": "sum by (tennant) (modelport_queue_length) > 0"},
                ],
            }
        ]
    }
    found = problems({}, rules)

    assert len(found) == 3, found
    assert "is not exported as modelport_endpoints_total" in found[0]
    assert "phase='failed' never occurs" in found[1]
    assert "groups by 'tennant'" in found[2]


def test_every_alert_has_an_expression_a_duration_a_severity_and_a_summary(rules):
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    assert alerts
    for alert in alerts:
        assert isinstance(alert.get("expr"), str) and alert["expr"].strip(), alert
        assert re.fullmatch(r"(\d+[smhdwy])+", str(alert.get("for", ""))), alert
        assert alert.get("labels", {}).get("severity") in SEVERITIES, alert
        assert alert.get("annotations", {}).get("summary"), alert
        assert alert.get("annotations", {}).get("description"), alert
    names = [alert["alert"] for alert in alerts]
    assert len(names) == len(set(names)), names
    assert set(names) >= REQUIRED_ALERTS


def test_every_panel_has_a_title_and_a_query(dashboards):
    for name, dashboard in dashboards.items():
        panels = list(all_panels(dashboard["panels"]))
        assert panels, name
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), (name, ids)
        for panel in panels:
            assert panel.get("title"), (name, panel)
            assert "gridPos" in panel, (name, panel["title"])
            if panel["type"] == "row":
                continue
            targets = panel.get("targets", [])
            assert any(target.get("expr", "").strip() for target in targets), (name, panel)
            for target in targets:
                assert target["datasource"]["uid"] == "${datasource}", (name, panel["title"])


def test_each_dashboard_picks_its_prometheus_from_a_variable_and_has_its_own_uid(dashboards):
    uids = [dashboard["uid"] for dashboard in dashboards.values()]
    assert len(uids) == len(set(uids)), uids
    assert set(uids) == {"modelport-platform", "modelport-tenant"}
    for name, dashboard in dashboards.items():
        assert dashboard["schemaVersion"] == 39, name
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["query"] == "prometheus", name


def test_the_tenant_dashboard_filters_every_query_by_the_chosen_tenant(dashboards):
    tenant = dashboards["tenant-dashboard.json"]
    variable = {v["name"]: v for v in tenant["templating"]["list"]}["tenant"]
    assert variable["query"]["query"] == "label_values(modelport_gateway_requests_total, tenant)"
    for where, expr in dashboard_expressions("tenant", tenant):
        if "label_values" in expr:
            continue
        for name, body in SELECTOR.findall(expr):
            assert 'tenant="$tenant"' in body, (where, name)
        assert all(f"{name}{{" in expr for name in METRIC.findall(expr)), where
