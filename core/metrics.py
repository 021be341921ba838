"""Every Prometheus metric Modelport exports, in one catalogue (GET /metrics serves them).

Labels are chosen to stay few: tenants, endpoints, applications, routes, task names, phases and
status classes, all bounded by what admins create; never a user, a key, an id or a raw path.
`LABELS` below is checked by a test against what a scrape shows.

Where several processes serve (the web server's workers, Celery's pool), prometheus-client's
multiprocess mode sums them: PROMETHEUS_MULTIPROC_DIR must name a directory shared by those
processes and be set before this module is first imported (`make run` does it).
"""

from prometheus_client import Counter, Gauge, Histogram

# Seconds: a model's answer takes milliseconds to tens of seconds.
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Seconds the gateway itself adds: well under a millisecond to tens of them.
OVERHEAD_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
# Seconds a reconcile or a task takes, or waits.
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

CALL = ("tenant", "endpoint", "application")

# --- Gateway ----------------------------------------------------------------------------------

GATEWAY_REQUESTS = Counter(
    "modelport_gateway_requests",
    "Calls through the gateway to a known endpoint, by status class (2xx … 5xx).",
    [*CALL, "status_class"],
)
GATEWAY_SECONDS = Histogram(
    "modelport_gateway_request_seconds",
    "Time from a call's arrival at the gateway to the end of its answer.",
    ["tenant", "endpoint"],
    buckets=CALL_BUCKETS,
)
GATEWAY_OVERHEAD_SECONDS = Histogram(
    "modelport_gateway_overhead_seconds",
    "Time the gateway adds: from a call's arrival to its forwarding (credential, limits, "
    "replica choice).",
    ["tenant", "endpoint"],
    buckets=OVERHEAD_BUCKETS,
)
GATEWAY_LIMITER = Counter(
    "modelport_gateway_limiter_decisions",
    "The limiter's answers for applications' calls: allowed, or refused and why.",
    ["decision"],
)
GATEWAY_TOKENS = Counter(
    "modelport_gateway_tokens",
    "Tokens of the models' answers, by kind (prompt, completion): as the answer's usage reports "
    "them, or counted by the gateway for a stream that reports none.",
    [*CALL, "kind"],
)
GATEWAY_BACKEND_ERRORS = Counter(
    "modelport_gateway_backend_errors",
    "Calls whose model server failed: no answer (error), too slow (timeout), or an answer cut "
    "short (cut).",
    ["tenant", "endpoint", "reason"],
)
GATEWAY_OPEN_STREAMS = Gauge(
    "modelport_gateway_open_streams",
    "Answers being streamed to callers right now.",
    ["tenant", "endpoint"],
    multiprocess_mode="livesum",
)

# --- Management API and portal ------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "modelport_http_requests",
    "Requests to the API, the portal and the admin site, by route pattern (never a raw path).",
    ["route", "method", "status_class"],
)
HTTP_SECONDS = Histogram(
    "modelport_http_request_seconds",
    "Time Django took to answer, by route pattern.",
    ["route", "method"],
    buckets=CALL_BUCKETS,
)

# --- Control plane ----------------------------------------------------------------------------

TASK_RUNS = Counter(
    "modelport_task_runs",
    "Celery task runs (reconciles, status syncs, resyncs) by task and result (ok, retry, failed).",
    ["task", "result"],
)
TASK_SECONDS = Histogram(
    "modelport_task_seconds", "How long task runs take.", ["task"], buckets=TASK_BUCKETS
)
TASK_WAIT_SECONDS = Histogram(
    "modelport_task_wait_seconds",
    "Time a task waited in the queue, from being sent to starting.",
    ["task"],
    buckets=TASK_BUCKETS,
)
GENERATION_LAG_SECONDS = Histogram(
    "modelport_generation_lag_seconds",
    "Time from a desired change (a tenant's or endpoint's new generation) to its objects being "
    "applied.",
    ["kind"],
    buckets=TASK_BUCKETS,
)
RESYNC_REPAIRS = Counter(
    "modelport_resync_repairs",
    "What the periodic resync repaired: rows re-queued because they lagged or were stale, and "
    "orphaned objects removed.",
    ["kind", "repair"],
)

# Read from the database and the broker at scrape time (portal.metrics), so they are right
# whichever process changed them.
STATE_METRICS = {
    "modelport_endpoints": ("Endpoints by phase.", ["phase"]),
    "modelport_endpoint_replicas": (
        "Replicas per endpoint: desired, and available as last observed.",
        ["tenant", "endpoint", "state"],
    ),
    "modelport_tenant_storage_bytes": ("Bytes of model files each tenant stores.", ["tenant"]),
    "modelport_queue_length": ("Celery messages waiting, by queue.", ["queue"]),
}

LABELS = {
    metric._name: tuple(metric._labelnames)
    for metric in (
        GATEWAY_REQUESTS,
        GATEWAY_SECONDS,
        GATEWAY_OVERHEAD_SECONDS,
        GATEWAY_LIMITER,
        GATEWAY_TOKENS,
        GATEWAY_BACKEND_ERRORS,
        GATEWAY_OPEN_STREAMS,
        HTTP_REQUESTS,
        HTTP_SECONDS,
        TASK_RUNS,
        TASK_SECONDS,
        TASK_WAIT_SECONDS,
        GENERATION_LAG_SECONDS,
        RESYNC_REPAIRS,
    )
} | {name: tuple(labels) for name, (_, labels) in STATE_METRICS.items()}


def status_class(status):
    return f"{status // 100}xx"
