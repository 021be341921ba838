"""The Celery application. Task defaults (acks_late, prefetch 1, time limits) are in settings.

Every task message carries the request id of the request that queued it and when it was sent
(headers `request_id`, `sent_at`): a task's log lines share the request's id (a task queued by
beat gets an id of its own), and the metrics time both its wait in the queue and its run."""

import logging
import os
import time

from celery import Celery, signals
from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

from core import audit, metrics, request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

logger = logging.getLogger(__name__)

app = Celery("modelport")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _use_django_logging(**kwargs):
    """The worker logs as the web server does, by settings.LOGGING (format, request ids,
    LOG_LEVEL): with a receiver here, Celery leaves logging alone."""


@signals.worker_ready.connect
def _ready(sender=None, **kwargs):
    # Celery's own lines are at WARNING (settings.LOGGING); this one says the worker is up.
    logger.info("Worker %s ready.", getattr(sender, "hostname", "?"))
    _serve_metrics()


def _serve_metrics():
    """With MODELPORT_WORKER_METRICS_PORT set, the worker serves its task metrics (summed over
    its pool's processes through PROMETHEUS_MULTIPROC_DIR) at http://<pod>:<port>/metrics, for
    a cluster where the web pods do not share its folder. `make run` needs none of this."""
    port = settings.MODELPORT_WORKER_METRICS_PORT
    if not port:
        return
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, registry=registry)


# task id -> (the request id's token, the audit door's, when the run started), for its end.
_running = {}


@signals.before_task_publish.connect
def _stamp(headers=None, **kwargs):
    headers.setdefault("request_id", request_id.get() or request_id.new())
    headers.setdefault("sent_at", time.time())


@signals.task_prerun.connect
def _started(task_id=None, task=None, **kwargs):
    sent = task.request.get("request_id")
    token = request_id.bind(sent or request_id.get() or request_id.new())
    # Changes a task makes outside a request are the worker's (in the audit trail).
    _running[task_id] = (token, audit.working_as("worker"), time.monotonic())
    sent_at = task.request.get("sent_at")
    if isinstance(sent_at, int | float):
        metrics.TASK_WAIT_SECONDS.labels(task.name).observe(max(0.0, time.time() - sent_at))


@signals.task_postrun.connect
def _finished(task_id=None, task=None, retval=None, state=None, **kwargs):
    token, door, started = _running.pop(task_id, (None, None, None))
    if started is not None:
        metrics.TASK_SECONDS.labels(task.name).observe(time.monotonic() - started)
    # Reconciles that give up answer "failed" (the row says why) rather than raising.
    if state == "RETRY":
        result = "retry"
    elif state == "FAILURE" or retval == "failed":
        result = "failed"
    else:
        result = "ok"
    metrics.TASK_RUNS.labels(task.name, result).inc()
    if token is not None:
        try:
            request_id.reset(token)
            audit.done_working(door)
        except ValueError:  # ended in another context than it started: just forget them
            request_id.bind("")
            audit.working_as("command")
